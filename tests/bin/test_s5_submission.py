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
