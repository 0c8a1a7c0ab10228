"""s5_score on a small generated test set (32 kHz, 1 s, 4-channel soundscapes)."""
import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

from espnet2_ext.bin import s5_score
from espnet2_ext.fileio import write_wav
from espnet2_ext.s5.metrics import bootstrap
from espnet2_ext.s5.results import per_soundscape, read_results_json

SR, T = 32000, 32000
SCENES = {"scene_0": ["Speech", "Dishes"], "scene_1": ["Cough", "Cough"], "scene_2": [],
          "scene_10": ["Typing"]}                                # scene_1 / scene_10: prefix clash


@pytest.fixture(scope="module")
def testset(tmp_path_factory):
    """soundscape/ + oracle_target/ ; returns (root, {scene: (mixture ch0, [refs])})."""
    root = tmp_path_factory.mktemp("score")
    rng = np.random.default_rng(0)
    truth = {}
    for scene, labels in SCENES.items():
        refs = [(0.1 * rng.standard_normal(T)).astype(np.float32) for _ in labels]
        mix = 0.01 * rng.standard_normal((4, T)).astype(np.float32)
        mix += sum(refs) if refs else 0.0
        write_wav(root / "soundscape" / f"{scene}.wav", mix, SR)
        for i, (lab, ref) in enumerate(zip(labels, refs)):
            write_wav(root / "oracle_target" / f"{scene}_{i}_{lab}.wav", ref, SR)
        truth[scene] = (mix[0], refs)
    (root / "oracle_target").mkdir(exist_ok=True)
    return root, truth


def _run(root, est_dir, out, *extra):
    return s5_score.main(["--soundscape_dir", str(root / "soundscape"), "--oracle_target_dir",
                          str(root / "oracle_target"), "--estimate_dir", str(est_dir),
                          "--output_dir", str(out), *extra])


def _snr(est, ref):
    eps = np.finfo(np.float32).eps
    return 10 * math.log10((np.sum(ref.astype(np.float64) ** 2) + eps) /
                           (np.sum((ref.astype(np.float64) - est) ** 2) + eps))


def test_oracle_targets_score_ideal(testset, tmp_path, capsys):
    root, truth = testset
    _run(root, root / "oracle_target", tmp_path / "r", "--system", "oracle")
    lines = capsys.readouterr().out.strip().splitlines()
    expected = np.mean([np.mean([_snr(r, r) - _snr(mix, r) for r in refs])
                        for mix, refs in truth.values() if refs])
    assert lines[0].startswith("CAPI-SDRi: ") and abs(float(lines[0].split()[-1]) - expected) < 2e-3
    assert expected > 60
    assert lines[1:] == ["Accuracy (mixture): 100.000", "Accuracy (source) : 100.000"]

    res = json.loads((tmp_path / "r" / "results.json").read_text())
    assert abs(res["CAPI-SDRi"]["mean"] - expected) < 2e-3
    assert res["label_metrics"] == {"accuracy_mix": 100.0, "accuracy_src": 100.0,
                                    "accuracy_mix_ci95": [100.0, 100.0]}
    lo, hi = res["CAPI-SDRi"]["ci95"]
    per_scene = [d["metrics"][0]["value"] for d in res["details"] if d["metrics"][0]["value"] is not None]
    assert min(per_scene) <= lo < res["CAPI-SDRi"]["mean"] < hi <= max(per_scene)   # a mean of resamples
    assert res["bootstrap"] == {"resamples": 1000, "seed": 0, "level": 0.95}
    assert res["CA-SDRi_2025"]["mean"] is not None
    details = {d["soundscape"]: d for d in res["details"]}
    assert sorted(details) == sorted(SCENES)
    assert details["scene_2"]["metrics"][0] == {"metric": "CAPI-SDRi", "value": None}
    assert details["scene_10"]["ref_labels"] == ["Typing", "silence", "silence"]
    assert details["scene_1"]["est_labels"] == ["Cough", "Cough", "silence"]
    assert details["scene_0"]["probabilities"] == [1.0, 1.0, 1.0]
    assert details["scene_0"]["metrics"][1] == {"metric": "label_metrics",
                                                "value": {"acc": True, "tp": 2, "fp": 0, "fn": 0}}
    matrix = np.array(res["label_confusion"]["matrix"])
    assert matrix.sum() == 5 and np.trace(matrix) == 5
    md = (tmp_path / "r" / "RESULTS.md").read_text()
    assert "|oracle|" in md and "Per-class CAPI-SDRi" in md
    assert "|CAPI-SDRi (dB)|CAPI-SDRi 95 % CI (dB)|Accuracy mixture (%)|Accuracy mixture 95 % CI (%)|" in md
    assert f"|{res['CAPI-SDRi']['mean']:.3f}|[{lo:.3f}, {hi:.3f}]|100.000|[100.000, 100.000]|" in md
    assert ("95 % percentile bootstrap over 4 soundscapes (CAPI-SDRi: the 3 with events), "
            "1000 resamples, seed 0.") in md
    for png in ("per_class_capi_sdri.png", "label_confusion.png"):
        assert (tmp_path / "r" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mixture_as_estimate_scores_zero(testset, tmp_path, capsys):
    root, truth = testset
    est = tmp_path / "est"
    probs = {}
    for scene, labels in SCENES.items():
        probs[scene] = []
        for i, lab in enumerate(labels):
            write_wav(est / f"{scene}_{i}_{lab}.wav", truth[scene][0], SR)
            probs[scene].append({"filename": f"{scene}_{i}_{lab}.wav", "label": lab, "probability": 0.5 + i / 10})
    est.mkdir(exist_ok=True)
    (est / "estimates.json").write_text(json.dumps(probs))
    _run(root, est, tmp_path / "r")
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["CAPI-SDRi: 0.000", "Accuracy (mixture): 100.000", "Accuracy (source) : 100.000"]
    res = json.loads((tmp_path / "r" / "results.json").read_text())
    assert {d["soundscape"]: d["probabilities"] for d in res["details"]}["scene_0"] == [0.5, 0.6, 1.0]
    assert res["config"]["system"] == "est"


def test_missed_and_wrong_labels_lower_accuracy(testset, tmp_path, capsys):
    root, truth = testset
    est = tmp_path / "est"
    est.mkdir()
    shutil.copy(root / "oracle_target" / "scene_0_0_Speech.wav", est / "scene_0_0_Speech.wav")
    shutil.copy(root / "oracle_target" / "scene_0_1_Dishes.wav", est / "scene_0_1_Pour.wav")
    _run(root, est, tmp_path / "r")
    lines = capsys.readouterr().out.splitlines()
    # acc: only scene_2 (empty vs empty) is right; sources: TP 1 (Speech), FP 1, FN 1+2+1
    assert lines[1] == "Accuracy (mixture): 25.000"
    assert lines[2] == f"Accuracy (source) : {100 / 6:.3f}"
    # per soundscape 0, 0, 100, 0 (n = 4): the resampled accuracy is 25 K, K ~ Binomial(4, 1/4);
    # P(K = 0) = 0.32 > 2.5 %, P(K <= 2) = 0.95 < 97.5 % <= P(K <= 3) = 0.996 -> [0, 75]
    res = read_results_json(tmp_path / "r" / "results.json")            # the new keys pass the checks
    assert res["label_metrics"]["accuracy_mix_ci95"] == [0.0, 75.0]
    # the intervals are those of the per-soundscape values in details (what the leaderboard uses)
    capi, mix = zip(*per_soundscape(res).values())
    assert mix.count(100.0) == 1 and capi.count(None) == 1
    assert res["CAPI-SDRi"]["ci95"] == bootstrap.mean_ci(capi)
    assert res["CAPI-SDRi"]["ci95"][0] < res["CAPI-SDRi"]["mean"] < res["CAPI-SDRi"]["ci95"][1]
    assert "|25.000|[0.000, 75.000]|" in (tmp_path / "r" / "RESULTS.md").read_text()


@pytest.mark.parametrize("bad_name", ["scene_0_0_Speach.wav", "unrelated.wav", "scene_0_0_Speech_x.wav"])
def test_malformed_estimate_names_exit_nonzero(testset, tmp_path, capsys, bad_name):
    root, truth = testset
    est = tmp_path / "est"
    write_wav(est / bad_name, truth["scene_0"][0], SR)
    with pytest.raises(SystemExit) as exc:
        _run(root, est, tmp_path / "r")
    assert exc.value.code != 0
    assert bad_name in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_estimate_of_wrong_length_or_unlisted_in_json_is_an_error(testset, tmp_path, capsys):
    root, truth = testset
    est = tmp_path / "est"
    write_wav(est / "scene_0_0_Speech.wav", truth["scene_0"][0][: T // 2], SR)
    with pytest.raises(SystemExit):
        _run(root, est, tmp_path / "r")
    assert "scene_0_0_Speech.wav" in capsys.readouterr().err
    write_wav(est / "scene_0_0_Speech.wav", truth["scene_0"][0], SR)
    (est / "estimates.json").write_text(json.dumps({"scene_0": []}))
    with pytest.raises(SystemExit):
        _run(root, est, tmp_path / "r")
    assert "scene_0_0_Speech.wav" in capsys.readouterr().err


def test_runs_as_module(testset, tmp_path):
    root, _ = testset
    proc = subprocess.run([sys.executable, "-m", "espnet2_ext.bin.s5_score", "--soundscape_dir",
                           str(root / "soundscape"), "--oracle_target_dir", str(root / "oracle_target"),
                           "--estimate_dir", str(root / "oracle_target"), "--output_dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1] == "Accuracy (mixture): 100.000"


def test_the_score_folder_is_replaced_as_a_unit(testset, tmp_path, monkeypatch):
    root, truth = testset
    other = tmp_path / "other_estimates"                                 # the mixtures as estimates
    for scene, labels in SCENES.items():
        for i, lab in enumerate(labels):
            write_wav(other / f"{scene}_{i}_{lab}.wav", truth[scene][0], SR)
    other.mkdir(exist_ok=True)
    out = tmp_path / "score"
    _run(root, root / "oracle_target", out, "--report", "false")
    (out / "score.log").write_text("log of the running job\n")          # what run.pl writes there
    (out / "stale_plot_of_an_older_run.png").write_bytes(b"x")
    before = (out / "results.json").read_text()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(s5_score, "plot_confusion", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(root, other, out, "--report", "false")                      # other estimates, then killed
    assert (out / "results.json").read_text() == before                 # the old run, untouched
    assert not list(tmp_path.glob(".score.*"))                           # nothing left aside
    monkeypatch.undo()
    _run(root, other, out, "--report", "false")
    assert (out / "results.json").read_text() != before
    assert not (out / "stale_plot_of_an_older_run.png").exists()        # no file of another run
    assert (out / "score.log").read_text() == "log of the running job\n"  # the job's log is kept
