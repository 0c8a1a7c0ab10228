"""The README's first command, end to end: ./run.sh --mini true (all 8 stages, CPU).

Runs in a copy of the recipe folder so the checkout stays clean; then packages a
submission from the same experiment (stage 8 with --submission true).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from espnet2_ext.names import markdown_text
from mini_corpora import private_copy

DECODE = "exp/decode_4c_resunetk_valid.loss.best"    # tagger tag, separator tag, model file


@pytest.fixture(scope="module")
def mini_run(recipe_dir, repo_root, mini_corpus, tmp_path_factory):
    work = tmp_path_factory.mktemp("recipe") / "s5"
    made = {"mini", "data", "exp", "checkpoint", "downloads"}   # run-time folders, top level only
    shutil.copytree(recipe_dir, work, symlinks=True,
                    ignore=lambda d, names: made & set(names) if d == str(recipe_dir) else set())
    (work / "utils").unlink()
    (work / "utils").symlink_to(repo_root / "utils")
    # the suite's build of the same corpus (stage 1 verifies and reuses it; the build itself is
    # tested through local/download.sh in tests/bin/test_s5_download.py)
    private_copy(mini_corpus, work / "mini" / "corpus")
    res = subprocess.run(["./run.sh", "--mini", "true", "--nj", "2"], cwd=work, capture_output=True,
                         text=True, timeout=40 * 60, env={**os.environ, "cmd_backend": "local"})
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-5000:]
    return work, res.stdout + res.stderr


def test_all_stages_ran_and_printed_the_score_table(mini_run):
    work, out = mini_run
    for stage in range(1, 9):
        assert f"Stage {stage}:" in out
    assert "mini corpus (seed 0) already built" in out
    assert "Successfully finished stages 1-8" in out
    for line in ("CAPI-SDRi: ", "Accuracy (mixture): ", "Accuracy (source) : "):   # official lines
        assert line in out, line
    assert "|CAPI-SDRi (dB)|" in out   # the RESULTS.md table is printed too
    results = json.loads((work / f"{DECODE}/test/score/results.json").read_text())
    assert {"CAPI-SDRi", "label_metrics", "details"} <= set(results)
    for png in ("per_class_capi_sdri.png", "label_confusion.png"):
        assert (work / DECODE / "test/score" / png).stat().st_size > 1000
    report = work / DECODE / "test/score/report/index.html"   # the listening report
    assert report.is_file() and "<audio " in report.read_text(encoding="utf-8")
    assert "](report/index.html)" in (work / DECODE / "test/score/RESULTS.md").read_text()


#: How far a run may differ from README's mini table (README says why: float32 summation order
#: depends on the CPU's vector width and thread count, and training amplifies last-bit changes).
README_TOLERANCE = {"loss": 0.05, "accuracy": 5.0, "capi_sdri": 0.1}


def numbers(text: str):
    return [float(x.replace("\u2212", "-")) for x in re.findall(r"[\u2212-]?\d+\.\d+", text)]


def run_figures(work):
    """The mini table's figures from this run: (untrained, trained) per stage row, as README prints them."""
    def figures(exp):
        text = (work / "exp" / exp / "learning_figures.txt").read_text()
        init = dict(re.findall(r"(\w+)=(-?\d+\.\d+)", re.search(r"initial \(untrained\) valid: (.*)", text)[1]))
        best = float(re.search(r"best epoch \d+: valid loss (-?\d+\.\d+)", text)[1])
        acc = re.search(r"best epoch valid accuracy: mixture (\d+\.\d) %, source (\d+\.\d) %", text)
        return {k: float(v) for k, v in init.items()}, best, acc
    tag_init, tag_best, tag_acc = figures("tag_head_4c")
    sep_init, sep_best, _ = figures("sep_resunetk")
    results = json.loads((work / f"{DECODE}/test/score/results.json").read_text())
    return {
        "tagger": ([tag_init["loss"], 100 * tag_init["acc_src"]],
                   [tag_best, float(tag_acc[2]), float(tag_acc[1])]),
        "separator": ([sep_init["loss"]], [sep_best]),
        "dev test": ([], [results["CAPI-SDRi"]["mean"], results["label_metrics"]["accuracy_src"]]),
    }


def test_readme_mini_table_is_what_this_run_printed(mini_run, repo_root):
    """README's 'What the mini run learns' table equals this run's figures (within README_TOLERANCE),
    and every training stage learns: validation better than untrained."""
    work, _ = mini_run
    readme = (repo_root / "README.md").read_text()
    rows = {"tagger": "| 4 tagger head 4c |", "separator": "| 6 separator |", "dev test": "| 7–8 dev test"}
    kinds = {"tagger": (["loss", "accuracy"], ["loss", "accuracy", "accuracy"]),
             "separator": (["loss"], ["loss"]), "dev test": ([], ["capi_sdri", "accuracy"])}
    ran = run_figures(work)
    for row, start in rows.items():
        line = next(line for line in readme.splitlines() if line.startswith(start))
        cells = line.split("|")[2:4]
        for cell, got, kind in zip(cells, ran[row], kinds[row]):
            printed = numbers(cell)
            if row == "dev test" and not printed:
                continue
            assert len(printed) == len(got) == len(kind), (row, cell, got)
            for p, g, k in zip(printed, got, kind):
                assert abs(p - g) <= README_TOLERANCE[k], f"README {row}: {cell.strip()!r} but this run: {got}"
    (tag_init, tag_best), (sep_init, sep_best) = ran["tagger"], ran["separator"]
    assert tag_best[0] < tag_init[0] and tag_best[1] > tag_init[1]       # the tagger head learns
    assert sep_best[0] < sep_init[0]                                     # the separator learns


def test_techniques_table_script_reads_this_runs_baseline_row(mini_run):
    """benchmarks/techniques_mini.py (docs/beyond_baseline.md's mini table) reads its baseline row's
    figures from a run like this one, the same ones the score table and learning figures show."""
    from techniques_mini import ROWS, row_cells      # benchmarks/ is on sys.path (tests/conftest.py)

    work, _ = mini_run
    cells = row_cells(work, ROWS[0])
    assert ROWS[0].decode == DECODE.split("/")[1]
    results = json.loads((work / f"{DECODE}/test/score/results.json").read_text())
    assert float(cells[1]) == pytest.approx(results["CAPI-SDRi"]["mean"], abs=5e-4)
    assert float(cells[3]) == pytest.approx(results["label_metrics"]["accuracy_src"], abs=0.05)
    best = re.search(r"best epoch (\d+): valid loss (-?\d+\.\d+)",
                     (work / "exp/sep_resunetk/learning_figures.txt").read_text())
    assert cells[5] == f"{float(best[2]):.4f} (epoch {best[1]})"


def test_models_logs_tensorboard_and_learning_figures(mini_run):
    work, _ = mini_run
    for exp in ("tag_head_1c", "tag_head_4c", "tag_blocks_1c", "tag_blocks_4c", "sep_resunetk"):
        d = work / "exp" / exp
        assert (d / "valid.loss.best.pth").exists() and (d / "train.log").exists(), exp
        assert list((d / "tensorboard").rglob("events.out.tfevents.*")), exp
        figures = (d / "learning_figures.txt").read_text()
        assert "initial (untrained) valid" in figures and "best epoch" in figures, exp


def test_decoded_estimates_are_complete(mini_run):
    work, _ = mini_run
    for dset, folder in (("test", "data/test/soundscape_dir"), ("eval", "data/eval/soundscape_dir")):
        soundscapes = sorted(p.stem for p in (work / (work / folder).read_text().strip()).glob("*.wav"))
        est = json.loads((work / DECODE / dset / "estimates.json").read_text())
        assert sorted(est) == soundscapes
        for name, entries in est.items():
            for e in entries:
                assert (work / DECODE / dset / e["filename"]).is_file()


def test_submission_package(mini_run):
    work, _ = mini_run
    res = subprocess.run(["./run.sh", "--mini", "true", "--stage", "8", "--submission", "true",
                          "--author", "Doe", "--affiliation", "Lab", "--submission_number", "1"],
                         cwd=work, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    z = work / "exp/submission/Doe_Lab_task4_1.zip"
    names = zipfile.ZipFile(z).namelist()
    assert "Doe_Lab_task4_1/eval_results.json" in names
    assert "Doe_Lab_task4_1/dev_set_test_results.json" in names
    assert any(n.startswith("Doe_Lab_task4_1/eval_out/eval_") and n.endswith(".wav") for n in names)


def test_identity_records_and_a_second_system_on_the_leaderboard(mini_run):
    work, _ = mini_run
    for folder in ("exp/tag_head_4c", "exp/tag_blocks_4c", "exp/sep_resunetk", f"{DECODE}/test"):
        assert json.loads((work / folder / "identity.json").read_text())["identity"], folder
    # the second system also decodes in the opt-in bf16 precision (its folder says so)
    res = subprocess.run(["./run.sh", "--mini", "true", "--stage", "7", "--stop-stage", "8", "--test_sets", "test",
                          "--inference_model", "latest.pth", "--inference_tag", "last", "--inference_precision", "bf16"],
                         cwd=work, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    second = work / "exp/decode_4c_resunetk_latest_bf16_last/test"
    assert json.loads((second / "identity.json").read_text())["identity"]["precision"] == "bf16"
    board = (work / "RESULTS.md").read_text()
    for name in ("decode_4c_resunetk_valid.loss.best", "decode_4c_resunetk_latest_bf16_last",   # names are escaped
                 "official baseline M2DAT_4c + ResUNetK †", "Bando_AIST_task4_3 †"):
        assert markdown_text(name) in board, name
    assert "not run here" in board

    # another configuration in a used experiment folder stops before any work
    res = subprocess.run(["./run.sh", "--mini", "true", "--stage", "6", "--stop-stage", "6",
                          "--sep_tag", "resunetk", "--sep_args", "--optim_conf lr=0.5"],
                         cwd=work, capture_output=True, text=True, timeout=600)
    out = res.stdout + res.stderr + (work / "exp/sep_resunetk/train.log").read_text()
    assert res.returncode != 0 and "holds results of another training: optim_conf.lr" in out
    assert "Traceback" not in out


def test_pack_then_decode_from_the_archive_equals_decoding_exp(mini_run):
    """A calibrated system packed by stage 9 decodes from the archive, with the packed calibration,
    exactly as from exp/. (The accuracy fit: the CAPI-SDRi objective, which also runs the separator
    on data/valid, is tested by tests/bin/test_s5_calibrate.py; the packed file is the same format.)"""
    work, _ = mini_run
    calibrated = ["--calibrate", "true", "--test_sets", "test"]
    res = subprocess.run(["./run.sh", "--mini", "true", "--stage", "7", "--stop-stage", "9", *calibrated,
                          "--report", "false"],   # the report is tested above; here it only costs time
                         cwd=work, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    direct = work / f"{DECODE}_calib"
    calibration = work / "exp/tag_blocks_4c/calibration_valid.loss.best.json"     # fit beside the tagger
    assert json.loads(calibration.read_text())["objective"] == "accuracy"
    archive = work / "exp/packed/4c_resunetk_valid.loss.best_calib.zip"
    assert {"RESULTS.md", "calibration.json"} <= set(zipfile.ZipFile(archive).namelist())
    res = subprocess.run(["./run.sh", "--mini", "true", "--stage", "7", "--stop-stage", "7", *calibrated,
                          "--packed_model", str(archive)], cwd=work, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "using the calibration packed with the system" in res.stdout + res.stderr
    packed = work / "exp/decode_packed_4c_resunetk_valid.loss.best_calib_calib/test"
    assert (packed / "estimates.json").read_text() == (direct / "test/estimates.json").read_text()
    wavs = sorted(p.name for p in (direct / "test").glob("*.wav"))
    assert wavs and sorted(p.name for p in packed.glob("*.wav")) == wavs
    for name in wavs:
        assert sf.read(str(packed / name))[0].tolist() == sf.read(str(direct / "test" / name))[0].tolist(), name


def test_python_api_on_the_packed_mini_system_10s_clip_and_60s_recording(mini_run, repo_root, tmp_path):
    """README's Python example runs as written on the system stage 9 packs (model card included);
    the same archive decodes a 10 s clip (events of 10 s) and, in long form, a 60 s recording."""
    from espnet2_ext.s5.api import S5Separate
    from espnet2_ext.s5.labels import CLASSES
    from espnet2_ext.s5.official import M2D_WEIGHT_PATH

    work, _ = mini_run
    env = {**os.environ, "cmd_backend": "local", "DCASE26T4_CACHE": str(tmp_path / "cache")}
    res = subprocess.run(["./run.sh", "--mini", "true", "--stage", "9", "--stop-stage", "9"], cwd=work,
                         capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    archive = work / "exp/packed/4c_resunetk_valid.loss.best.zip"
    assert "README.md" in zipfile.ZipFile(archive).namelist()           # the model card
    example = re.search(r"<!-- example: tests/s5/test_api.py -->\s*```python\n(.*?)```",
                        (repo_root / "README.md").read_text(), re.S)[1]
    res = subprocess.run([sys.executable, "-c", example], cwd=work, capture_output=True, text=True,
                         timeout=600, env=env)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stdout + res.stderr

    # outside the recipe folder the packed tagger's M2D weights are named (their sha256 is checked)
    model = S5Separate.from_pretrained(archive, cache_dir=tmp_path / "models", m2d_weight_file=work / M2D_WEIGHT_PATH)
    scapes = sorted(Path((work / "data/test/soundscape_dir").read_text().strip()).glob("*.wav"))
    recording = np.concatenate([sf.read(str(p), dtype="float32", always_2d=True)[0].T for p in scapes], axis=1)
    sr = 32000
    recording = np.tile(recording, (1, -(-60 * sr // recording.shape[1])))[:, :60 * sr]   # [4, 60 s]
    events = model(recording[:, :10 * sr], sample_rate=sr)
    assert len(events) <= 3
    for event in events:
        assert event.label in CLASSES and 0 <= event.probability <= 1 and event.waveform.shape == (10 * sr,)
    tracks = model(recording, sample_rate=sr, long_form=True, hop_s=10)      # 6 windows, borders linked
    for track in tracks:
        assert track.label in CLASSES and track.waveform.shape == (60 * sr,)
        assert 0 <= track.onset < track.offset <= 60
        assert np.isfinite(track.waveform).all()
