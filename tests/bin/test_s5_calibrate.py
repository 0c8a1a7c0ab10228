"""s5_calibrate (fit on a data dir, kept when unchanged) and s5_inference --calibration (identity, effect)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_s5_inference import corpus, decode, models  # noqa: E402,F401  (module fixtures)

from cli_checks import expect_error  # noqa: E402
from espnet2_ext.bin import s5_calibrate, s5_inference  # noqa: E402


@pytest.fixture(scope="module")
def valid_dir(corpus, tmp_path_factory):  # noqa: F811
    """A stage-3 style data dir over the test soundscapes (wav.scp + labels)."""
    d = tmp_path_factory.mktemp("valid")
    names = sorted(p.stem for p in corpus.soundscapes.glob("*.wav"))
    (d / "wav.scp").write_text("".join(f"{n} {corpus.soundscapes / (n + '.wav')}\n" for n in names))
    refs = {"sc_a": ["Speech", "Dishes"], "sc_b": ["Cough"], "sc_c": []}
    (d / "labels").write_text("".join(f"{n} {' '.join((refs[n] + ['silence'] * 3)[:3])}\n" for n in names))
    return d


def test_fit_keep_refit_and_decode_with_it(models, corpus, valid_dir, tmp_path, caplog, capsys):  # noqa: F811
    out = tmp_path / "calibration.json"
    args = ["--tagger_model", str(models.espnet_tag), "--valid_data_dir", str(valid_dir), "--output", str(out),
            "--device", "cpu"]
    s5_calibrate.main(args)
    cal = json.loads(out.read_text())
    # the fabricated tagger says Typing, silence, Typing everywhere: argmax gets no mixture right,
    # silencing Typing gets the empty one (sc_c) right
    assert cal["valid_accuracy_mix"] == {"argmax": 0.0, "calibrated": pytest.approx(100 / 3)}
    assert cal["n_mixtures"] == 3 and len(cal["thresholds"]) == 18
    mtime = out.stat().st_mtime_ns
    s5_calibrate.main(args)
    assert out.stat().st_mtime_ns == mtime                        # same tagger and data: kept
    (valid_dir / "labels").write_text((valid_dir / "labels").read_text())   # same content, same digest
    s5_calibrate.main(args)
    assert out.stat().st_mtime_ns == mtime

    common = ["--tagger_ckpt", str(models.espnet_tag), "--separator_ckpt", str(models.espnet_sep)]
    plain, calib = tmp_path / "plain", tmp_path / "calib"
    decode(corpus, plain, *common)
    decode(corpus, calib, *common, "--calibration", str(out))
    est_plain = json.loads((plain / "estimates.json").read_text())
    est_calib = json.loads((calib / "estimates.json").read_text())
    assert all(len(v) == 2 for v in est_plain.values())            # Typing twice
    assert est_calib["sc_c"] == []                                  # the empty mixture comes out empty
    assert sum(map(len, est_calib.values())) < sum(map(len, est_plain.values()))
    assert "calibration" in json.loads((calib / "identity.json").read_text())["identity"]
    assert "calibration" not in json.loads((plain / "identity.json").read_text())["identity"]
    expect_error(s5_inference.main, ["--soundscape_dir", str(corpus.soundscapes), "--output_dir", str(plain),
                                     "--device", "cpu", *common, "--calibration", str(out)],
                 capsys, str(plain))                              # a calibrated decode never mixes in


def test_bad_inputs_stop_with_one_line(models, valid_dir, tmp_path, capsys):  # noqa: F811
    expect_error(s5_calibrate.main, ["--tagger_model", str(tmp_path / "none.pth"), "--valid_data_dir",
                                     str(valid_dir), "--output", str(tmp_path / "c.json")],
                 capsys, "none.pth")
    expect_error(s5_calibrate.main, ["--tagger_model", str(models.espnet_tag), "--valid_data_dir", str(tmp_path),
                                     "--output", str(tmp_path / "c.json"), "--device", "cpu"],
                 capsys, str(tmp_path))
    assert not (tmp_path / "c.json").exists()


def test_capi_sdri_objective_runs_the_separator_and_refits_for_another(models, corpus, tmp_path, capsys):  # noqa: F811
    from espnet2_ext.synth.datadir import write_datadir
    data = tmp_path / "valid"
    write_datadir(corpus.soundscapes, data, corpus.oracle)         # stage 3's data dir, with spk<k>.scp
    out = tmp_path / "calibration_capi.json"
    args = ["--tagger_model", str(models.espnet_tag), "--valid_data_dir", str(data), "--output", str(out),
            "--device", "cpu", "--objective", "capi_sdri"]
    expect_error(s5_calibrate.main, args, capsys, "--separator_model")   # the objective needs a separator
    assert not out.exists()
    s5_calibrate.main(args + ["--separator_model", str(models.espnet_sep)])
    cal = json.loads(out.read_text())
    assert cal["objective"] == "capi_sdri" and cal["n_mixtures"] == 3
    # the tagger only ever proposes Typing (never a reference class): every output is a false
    # alarm or nothing, so every decision scores 0 dB and the fit cannot beat the argmax
    assert cal["valid_capi_sdri"] == {"argmax": 0.0, "calibrated": 0.0}
    assert set(cal["valid_accuracy_mix"]) == {"argmax", "calibrated"}
    assert cal["fitted_on"]["separator_model"] and cal["fitted_on"]["objective"] == "capi_sdri"
    mtime = out.stat().st_mtime_ns
    s5_calibrate.main(args + ["--separator_model", str(models.espnet_sep)])
    assert out.stat().st_mtime_ns == mtime                          # same inputs: kept
    s5_calibrate.main(args + ["--separator_model", str(models.official_sep)])
    assert json.loads(out.read_text())["fitted_on"]["separator_model"] != cal["fitted_on"]["separator_model"]
