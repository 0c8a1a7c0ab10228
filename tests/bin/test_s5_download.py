"""Stage 1 entry points: local/download.sh (mini mode), s5_download --local_data_dir, errors."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from espnet2_ext.bin import s5_download
from espnet2_ext.s5.official import M2D_FOLDER, M2D_WEIGHTS

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "egs2" / "dcase26t4" / "s5"


def recipe_copy(tmp: Path) -> Path:
    """A scratch recipe dir: local/ and utils/ linked, outputs (data/, mini/, ...) stay here."""
    tmp.mkdir(parents=True, exist_ok=True)
    for name in ("local", "utils"):
        (tmp / name).symlink_to(RECIPE / name)
    return tmp


def run_script(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}:{RECIPE / 'utils'}:{os.environ['PATH']}"}
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def mini_recipe(tmp_path_factory) -> Path:
    """A recipe dir after `local/download.sh --mini true` (the real mini build)."""
    cwd = recipe_copy(tmp_path_factory.mktemp("recipe"))
    res = run_script(cwd, "local/download.sh", "--mini", "true", "--mini_seed", "0",
                     "--corpus_dir", "mini/corpus", "--local_data_dir", "", "--checkpoint_dir",
                     "checkpoint", "--download_baseline_ckpt", "false", "--data_dir", "data")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "layout OK" in res.stdout
    return cwd


def test_mini_mode_builds_and_links(mini_recipe):
    corpus = (mini_recipe / "mini" / "corpus").resolve()
    assert (mini_recipe / "data" / "dev_set").resolve() == corpus / "dev_set"
    assert (mini_recipe / "data" / "eval_set").resolve() == corpus / "eval_set"
    weights = mini_recipe / "checkpoint" / M2D_FOLDER / M2D_WEIGHTS
    assert weights.is_file() and weights.resolve().is_relative_to(corpus)
    stamp = corpus / "mini_corpus.json"
    mtime = stamp.stat().st_mtime_ns
    res = run_script(mini_recipe, "local/download.sh", "--mini", "true", "--corpus_dir",
                     "mini/corpus")
    assert res.returncode == 0 and "already built" in res.stderr
    assert stamp.stat().st_mtime_ns == mtime


def test_local_data_dir_links_an_extracted_copy(mini_recipe, tmp_path, closed_port):
    corpus = mini_recipe / "mini" / "corpus"                 # holds dev_set/ and eval_set/
    ckpt = tmp_path / "checkpoint" / M2D_FOLDER
    ckpt.mkdir(parents=True)
    shutil.copy(corpus / "checkpoint" / M2D_FOLDER / M2D_WEIGHTS, ckpt)   # no download needed
    s5_download.main(["--corpus_dir", str(tmp_path / "unused"), "--local_data_dir", str(corpus),
                      "--data_dir", str(tmp_path / "data"), "--checkpoint_dir",
                      str(tmp_path / "checkpoint"), "--github_url", closed_port,
                      "--zenodo_url", closed_port])
    assert (tmp_path / "data" / "dev_set").resolve() == (corpus / "dev_set").resolve()
    assert (tmp_path / "data" / "eval_set").resolve() == (corpus / "eval_set").resolve()
    assert not (tmp_path / "unused").exists()


def test_local_data_dir_without_dev_set(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        s5_download.main(["--corpus_dir", str(tmp_path), "--local_data_dir", str(tmp_path)])
    assert e.value.code == 2
    assert f"--local_data_dir {tmp_path}: no dev_set found" in capsys.readouterr().err


def test_offline_names_url_and_file(tmp_path, closed_port):
    res = run_script(recipe_copy(tmp_path / "r"), sys.executable, "-m",
                     "espnet2_ext.bin.s5_download", "--corpus_dir", "downloads",
                     "--zenodo_url", closed_port, "--github_url", closed_port, "--retries", "0")
    assert res.returncode == 2
    url = f"{closed_port}/records/19328046/files/DCASE2026Task4Dataset.z01"
    assert f"ERROR: cannot download {url}" in res.stderr
    expected = tmp_path / "r" / "downloads" / "DCASE2026Task4Dataset.z01"
    assert f"Expected file: {expected}. If this machine cannot reach" in res.stderr
    assert "--local_data_dir" in res.stderr
    assert not (tmp_path / "r" / "downloads").exists() or \
        not any((tmp_path / "r" / "downloads").iterdir())


@pytest.fixture
def closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"
