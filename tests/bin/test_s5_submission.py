"""s5_submission: official package layout, validation, atomicity."""
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from espnet2_ext.bin import s5_submission
from espnet2_ext.fileio import write_wav

SR, T = 32000, 16000
NAME = "Doe_Lab_task4_1"
ESTIMATES = {"eval_0000": ["Speech", "Dishes"], "eval_0001": [], "eval_0002": ["Cough"]}


@pytest.fixture
def inputs(tmp_path):
    """eval soundscapes, estimates (+ estimates.json) and a dev results.json."""
    rng = np.random.default_rng(0)
    entries = {}
    for scene, labels in ESTIMATES.items():
        write_wav(tmp_path / "eval" / f"{scene}.wav", rng.standard_normal((4, T)).astype(np.float32), SR)
        entries[scene] = []
        for i, lab in enumerate(labels):
            name = f"{scene}_{i}_{lab}.wav"
            write_wav(tmp_path / "est" / name, rng.standard_normal(T).astype(np.float32), SR)
            entries[scene].append({"filename": name, "label": lab, "probability": 0.9})
    (tmp_path / "est" / "estimates.json").write_text(json.dumps(entries))
    dev = {"CAPI-SDRi": {"mean": 8.0}, "label_metrics": {"accuracy_mix": 50.0, "accuracy_src": 60.0},
           "details": [{"soundscape": "soundscape_0000"}, {"soundscape": "soundscape_0001"}]}
    (tmp_path / "dev_results.json").write_text(json.dumps(dev))
    return tmp_path


def _args(root, *extra):
    return ["--eval_estimate_dir", str(root / "est"), "--eval_soundscape_dir", str(root / "eval"),
            "--dev_results", str(root / "dev_results.json"), "--author", "Doe", "--affiliation", "Lab",
            "--submission_number", "1", "--output_dir", str(root / "out"), "--nparams", "1234", *extra]


def test_builds_official_package(inputs):
    s5_submission.main(_args(inputs))
    pkg = inputs / "out" / NAME
    assert sorted(p.name for p in (pkg / "eval_out").iterdir()) == [
        "eval_0000_0_Speech.wav", "eval_0000_1_Dishes.wav", "eval_0002_0_Cough.wav"]
    res = json.loads((pkg / "eval_results.json").read_text())
    assert res["nparams"] == 1234 and res["config"] == {}
    assert [e["soundscape"] for e in res["probabilities"]] == sorted(ESTIMATES)
    assert res["probabilities"][1]["estimate"] == []
    assert res["probabilities"][0]["estimate"][1] == {"filename": "eval_0000_1_Dishes.wav",
                                                      "label": "Dishes", "probability": 0.9}
    assert json.loads((pkg / "dev_set_test_results.json").read_text())["CAPI-SDRi"]["mean"] == 8.0
    with zipfile.ZipFile(inputs / "out" / f"{NAME}.zip") as zf:
        names = set(zf.namelist())
        assert zf.testzip() is None
    assert {f"{NAME}/eval_results.json", f"{NAME}/dev_set_test_results.json",
            f"{NAME}/eval_out/eval_0002_0_Cough.wav"} <= names
    assert all(n.startswith(f"{NAME}/") for n in names)
    assert sorted(p.name for p in (inputs / "out").iterdir()) == [NAME, f"{NAME}.zip"]   # no leftovers


def _fails(inputs, capsys, *extra):
    with pytest.raises(SystemExit) as exc:
        s5_submission.main(_args(inputs, *extra))
    assert exc.value.code != 0
    return capsys.readouterr().err


def test_missing_eval_soundscape_entry_fails_without_leftovers(inputs, capsys):
    entries = json.loads((inputs / "est" / "estimates.json").read_text())
    del entries["eval_0001"]
    (inputs / "est" / "estimates.json").write_text(json.dumps(entries))
    assert "eval_0001" in _fails(inputs, capsys)
    assert not (inputs / "out").exists() or not any((inputs / "out").iterdir())


def test_json_must_list_exactly_the_wavs(inputs, capsys):
    write_wav(inputs / "est" / "eval_0001_0_Pour.wav", np.zeros(T, np.float32), SR)
    assert "eval_0001_0_Pour.wav" in _fails(inputs, capsys)


@pytest.mark.parametrize("bad", ["eval_0001_0_Pourr.wav", "eval_9999_0_Pour.wav"])
def test_bad_estimate_names_fail(inputs, capsys, bad):
    write_wav(inputs / "est" / bad, np.zeros(T, np.float32), SR)
    assert bad in _fails(inputs, capsys)


def test_wrong_length_estimate_fails(inputs, capsys):
    write_wav(inputs / "est" / "eval_0002_0_Cough.wav", np.zeros(T - 1, np.float32), SR)
    assert "eval_0002_0_Cough.wav" in _fails(inputs, capsys)


def test_failure_while_building_leaves_nothing(inputs, monkeypatch):
    def broken_zip(folder, zip_path):
        raise OSError("disk full")

    monkeypatch.setattr(s5_submission, "zip_folder", broken_zip)
    with pytest.raises(OSError):
        s5_submission.main(_args(inputs))
    assert list((inputs / "out").iterdir()) == []


def test_refuses_non_empty_eval_out_unless_overwrite(inputs, capsys):
    s5_submission.main(_args(inputs))
    assert "eval_out" in _fails(inputs, capsys)
    (inputs / "est" / "eval_0002_0_Cough.wav").unlink()
    entries = json.loads((inputs / "est" / "estimates.json").read_text())
    entries["eval_0002"] = []
    (inputs / "est" / "estimates.json").write_text(json.dumps(entries))
    s5_submission.main(_args(inputs, "--overwrite", "true"))
    pkg = inputs / "out" / NAME
    assert not (pkg / "eval_out" / "eval_0002_0_Cough.wav").exists()
    with zipfile.ZipFile(inputs / "out" / f"{NAME}.zip") as zf:
        assert f"{NAME}/eval_out/eval_0002_0_Cough.wav" not in zf.namelist()
    assert sorted(p.name for p in (inputs / "out").iterdir()) == [NAME, f"{NAME}.zip"]


def test_nparams_required_and_name_checked(inputs, capsys):
    args = [a for a in _args(inputs) if a not in ("--nparams", "1234")]
    with pytest.raises(SystemExit):
        s5_submission.main(args)
    assert "--nparams" in capsys.readouterr().err
    assert "--author" in _fails(inputs, capsys, "--author", "Doe_Smith")


def test_runs_as_module(inputs):
    proc = subprocess.run([sys.executable, "-m", "espnet2_ext.bin.s5_submission", *_args(inputs)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (inputs / "out" / f"{NAME}.zip").is_file()


def test_meta_file_is_filled_from_the_run_and_lists_what_a_person_fills(inputs, caplog):
    import yaml

    with caplog.at_level("WARNING"):
        s5_submission.main(_args(inputs))
    meta = yaml.safe_load((inputs / "out" / NAME / f"{NAME}.meta.yaml").read_text())
    assert meta["submission"]["label"] == NAME
    assert meta["submission"]["authors"][0]["lastname"] == "Doe"
    assert meta["submission"]["authors"][0]["affiliation"]["abbreviation"] == "Lab"
    assert meta["system"]["complexity"]["total_parameters"] == 1234
    assert meta["results"]["development_dataset"] == {"capi_sdri": 8.0, "accuracy_mixture": 50.0,
                                                      "accuracy_source": 60.0}
    assert "submission.authors[0].email" in caplog.text and "system.source_code" in caplog.text
    with zipfile.ZipFile(inputs / "out" / f"{NAME}.zip") as zf:
        assert f"{NAME}/{NAME}.meta.yaml" in zf.namelist()


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["submission"].update(label="Other_X_task4_1"), "submission.label is 'Other_X_task4_1'"),
    (lambda m: m["system"]["complexity"].update(total_parameters="many"), "total_parameters must be a positive"),
    (lambda m: m["results"].pop("development_dataset"), "results.development_dataset.capi_sdri"),
    (lambda m: m["submission"]["authors"][0].pop("email"), "authors[0] lacks email"),
])
def test_a_given_meta_file_is_validated_before_anything_is_written(inputs, capsys, edit, message):
    import yaml

    from espnet2_ext.s5.submission_meta import build_meta

    meta = build_meta(NAME, "Doe", "Lab", 1234, {"CAPI-SDRi": {"mean": 8.0},
                                                 "label_metrics": {"accuracy_mix": 50.0, "accuracy_src": 60.0}})
    edit(meta)
    (inputs / "meta.yaml").write_text(yaml.safe_dump(meta))
    err = _fails(inputs, capsys, "--meta_file", str(inputs / "meta.yaml"))
    assert message in err and err.count("ERROR:") == 1
    assert not (inputs / "out").exists() or not any((inputs / "out").iterdir())
    (inputs / "bad.yaml").write_text("submission: [unclosed")
    assert "cannot read --meta_file" in _fails(inputs, capsys, "--meta_file", str(inputs / "bad.yaml"))
