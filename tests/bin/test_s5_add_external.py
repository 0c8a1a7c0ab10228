"""Stage 2 entry points: local/add_external_data.sh (mini mode, run.pl jobs) and its errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from espnet2_ext.bin import s5_add_external
from espnet2_ext.corpus.layout import verify_layout
from mini_corpora import private_copy

RECIPE = Path(__file__).resolve().parents[2] / "egs2" / "dcase26t4" / "s5"


def run_script(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}:{RECIPE / 'utils'}:{os.environ['PATH']}"}
    return subprocess.run(["local/add_external_data.sh", *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def recipe(small_corpus, tmp_path_factory) -> Path:
    """Scratch recipe dir with data/dev_set -> a copy of the small mini corpus (stage 2 changes it)."""
    cwd = tmp_path_factory.mktemp("recipe")
    for name in ("local", "utils"):
        (cwd / name).symlink_to(RECIPE / name)
    corpus = private_copy(small_corpus, cwd / "mini" / "corpus")
    (cwd / "data").mkdir()
    (cwd / "data" / "dev_set").symlink_to(corpus / "dev_set")
    return cwd


def test_mini_mode_runs_the_filters_in_parallel_jobs(recipe):
    args = ["--cmd", "run.pl", "--nj", "2", "--mini", "true", "--semhear_path", "",
            "--ears_path", "", "--dev_set", "data/dev_set", "--logdir", "exp/add_external_data"]
    res = run_script(recipe, *args)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Processed 15 files: kept 9, removed 6, already present 0" in res.stdout
    assert "remove_contain_low_amplitude_segment: 1 files" in res.stdout
    assert "layout OK" in res.stdout
    logdir = recipe / "exp" / "add_external_data"
    assert sorted(p.name for p in (logdir / "log").iterdir()) == [
        "add_external.1.log", "add_external.2.log"]
    summary = json.loads((logdir / "summary.json").read_text())
    assert (summary["kept"], summary["removed"]) == (9, 6)
    assert (logdir / "summary.txt").read_text().startswith("Processed 15 files")
    assert len(json.loads((logdir / "by_status" / "remove_too_short.json").read_text())) == 2
    dev = recipe / "data" / "dev_set"
    assert (dev / "interference" / "train" / "Bus").is_dir()
    assert (dev / "sound_event" / "train" / "Speech" / "EARS_p001").is_dir()
    assert verify_layout(dev).ok


def test_real_mode_needs_the_paths(recipe):
    res = run_script(recipe, "--mini", "false", "--semhear_path", "", "--ears_path", "")
    assert res.returncode == 2 and "set --semhear_path" in res.stderr
    res = run_script(recipe, "--semhear_path", str(recipe))
    assert res.returncode == 2 and "set --ears_path" in res.stderr
    res = run_script(recipe, "--semhear_path", str(recipe), "--ears_path", str(recipe))
    assert res.returncode == 2
    assert "188 interference class folder(s) missing" in res.stderr


def test_summarize_names_a_missing_shard(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        s5_add_external.main(["summarize", "--semhear_path", "x", "--ears_path", "y",
                              "--nj", "2", "--logdir", str(tmp_path)])
    assert e.value.code == 2
    assert f"shard report {tmp_path}/info/status.1.json is missing" in capsys.readouterr().err
