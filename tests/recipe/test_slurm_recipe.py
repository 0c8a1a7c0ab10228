"""run.sh stages 3 and 7 with cmd_backend=slurm on a real local Slurm (issue 8).

A copy of the recipe (``<tmp>/egs2/dcase26t4/s5``, ``<tmp>/tools`` -> the repository's
tools so that path.sh finds the venv, ``utils`` -> the repository's utils) gets the mini
corpus once with the local backend; then

* stage 3 through sbatch rewrites byte-identical validation mixtures and data dirs,
* stage 7 through sbatch (espnet2 model files in the recipe, passed by relative paths)
  gives the same estimates of ``test`` as the local backend,
* a corrupt soundscape makes its array task fail and run.sh exit non-zero, naming that
  task's log.

Skipped, with the reason, where the local cluster cannot be brought up (not root, ...).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "utils"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from slurm_cluster import slurm_cluster  # noqa: E402,F401  (pytest fixture)
from s5_fake_models import write_espnet_model_file  # noqa: E402
from mini_corpora import private_copy  # noqa: E402

from espnet2_ext.tasks.s5_sep import S5SeparationTask  # noqa: E402
from espnet2_ext.tasks.s5_tag import S5TaggingTask  # noqa: E402

RECIPE = REPO / "egs2" / "dcase26t4" / "s5"
RECIPE_FILES = ("cmd.sh", "conf", "db.sh", "local", "path.sh", "run.sh")
GIVEN = ("--tagger_ckpt", "given/tag/valid.loss.best.pth", "--separator_ckpt", "given/sep/valid.loss.best.pth",
         "--tagger_variant", "4c")


def run_sh(s5: Path, *args: str, backend: str = "local", timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "cmd_backend": backend, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(["./run.sh", "--mini", "true", *args], cwd=s5, capture_output=True, text=True,
                         env=env, timeout=timeout)
    return res


def ok(res: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert res.returncode == 0, f"run.sh failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def recipe(slurm_cluster, mini_corpus, tmp_path_factory) -> Path:  # noqa: F811
    """The recipe copy after stages 1-3 (local backend, on a copy of the suite's mini corpus)
    plus tiny espnet2 models in given/."""
    root = tmp_path_factory.mktemp("slurm_recipe")
    s5 = root / "egs2" / "dcase26t4" / "s5"
    s5.mkdir(parents=True)
    (root / "tools").symlink_to(REPO / "tools")
    (s5 / "utils").symlink_to(REPO / "utils")
    for name in RECIPE_FILES:
        src = RECIPE / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, s5 / name)
    private_copy(mini_corpus, s5 / "mini" / "corpus")
    ok(run_sh(s5, "--stage", "1", "--stop-stage", "3", "--nj", "2"))
    cwd = os.getcwd()
    os.chdir(s5)            # the mini tagger config names the M2D file relative to the recipe
    try:
        write_espnet_model_file(S5TaggingTask, "conf/mini/tag_blocks_4c.yaml", "given/tag",
                                labels=["silence", "Speech", "Dishes"])
        write_espnet_model_file(S5SeparationTask, "conf/mini/sep_resunetk.yaml", "given/sep")
    finally:
        os.chdir(cwd)
    return s5


def digests(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def slurm_logs(log_dir: Path, stem: str, n: int) -> None:
    """Each of the n array tasks wrote its log through the Slurm job script and succeeded."""
    for j in range(1, n + 1):
        text = (log_dir / f"{stem}.{j}.log").read_text()
        assert "Slurm job" in text and f"task {j}" in text and "# Ended (code 0)" in text, text[-2000:]
    assert (log_dir / "q" / f"{stem}.sh").is_file()


def test_stage3_through_slurm_is_byte_identical(recipe):
    data = recipe / "data"
    before = {s: digests(data / s) for s in ("valid", "test", "eval")}
    n_valid = len(json.loads((data / "dev_set" / "metadata" / "valid.json").read_text()))
    assert len([k for k in before["valid"] if k.startswith("soundscape/")]) == n_valid > 0
    for s in ("valid", "test", "eval"):
        shutil.rmtree(data / s)
    shutil.rmtree(recipe / "exp" / "synthesize")
    ok(run_sh(recipe, "--stage", "3", "--stop-stage", "3", "--nj", "2", backend="slurm"))
    assert {s: digests(data / s) for s in ("valid", "test", "eval")} == before
    slurm_logs(recipe / "exp" / "synthesize", "synth", 2)


def estimates(decode_dir: Path):
    """({filename: samples}, estimates.json) of one decoded set."""
    wavs = {p.name: sf.read(str(p), dtype="float32")[0] for p in sorted(decode_dir.glob("*.wav"))}
    return wavs, json.loads((decode_dir / "estimates.json").read_text())


def test_stage7_through_slurm_equals_local(recipe):
    for expdir, backend in (("exp_local", "local"), ("exp_slurm", "slurm")):   # (eval: the mini recipe test)
        ok(run_sh(recipe, "--stage", "7", "--stop-stage", "7", *GIVEN, "--nj", "2", "--expdir", expdir,
                  "--test_sets", "test", backend=backend))
    local = recipe / "exp_local" / "decode_given_valid.loss.best_valid.loss.best"
    names = sorted(p.stem for p in Path((recipe / "data" / "test" / "soundscape_dir").read_text().strip()).glob("*.wav"))
    assert sorted(json.loads((local / "test" / "estimates.json").read_text())) == names
    ref_wavs, ref_json = estimates(local / "test")
    wavs, est_json = estimates(recipe / "exp_slurm" / "decode_given_valid.loss.best_valid.loss.best" / "test")
    assert ref_wavs and sorted(wavs) == sorted(ref_wavs)
    assert all(name.split("_", 2)[2] in ("0_Speech.wav", "1_Dishes.wav") for name in wavs)
    for name, wav in wavs.items():
        np.testing.assert_allclose(wav, ref_wavs[name], rtol=0, atol=1e-6)
    assert {k: [(e["filename"], e["label"]) for e in v] for k, v in est_json.items()} == \
        {k: [(e["filename"], e["label"]) for e in v] for k, v in ref_json.items()}
    for k, v in est_json.items():
        np.testing.assert_allclose([e["probability"] for e in v], [e["probability"] for e in ref_json[k]],
                                   atol=1e-6)
    slurm_logs(recipe / "exp_slurm" / "decode_given_valid.loss.best_valid.loss.best" / "test" / "log", "decode", 2)


def test_failing_slurm_task_fails_the_stage_and_names_its_log(recipe):
    soundscapes = Path((recipe / "data" / "test" / "soundscape_dir").read_text().strip())
    bad = recipe / "bad_soundscapes"
    shutil.copytree(soundscapes, bad)
    victim = sorted(bad.glob("*.wav"))[-1]            # in the share of job 2 of 2
    victim.write_bytes(b"this is not a wav file\n" * 8)
    (recipe / "data_bad" / "test").mkdir(parents=True)
    (recipe / "data_bad" / "test" / "soundscape_dir").write_text(f"{bad}\n")
    res = run_sh(recipe, "--stage", "7", "--stop-stage", "7", *GIVEN, "--nj", "2", "--expdir", "exp_fail",
                 "--datadir", "data_bad", "--test_sets", "test", backend="slurm")
    assert res.returncode != 0
    log_dir = recipe / "exp_fail" / "decode_given_valid.loss.best_valid.loss.best" / "test" / "log"
    assert f"{log_dir.relative_to(recipe)}/decode.2.log" in res.stdout + res.stderr
    failed = (log_dir / "decode.2.log").read_text()
    assert victim.name in failed and "# Ended (code 2)" in failed
    assert "# Ended (code 0)" in (log_dir / "decode.1.log").read_text()
    assert not (log_dir.parent / "estimates.json").exists()
