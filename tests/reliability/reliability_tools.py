"""Helpers shared by the reliability tests: calling CLIs, checking errors, comparing runs."""
from __future__ import annotations


import contextlib
import functools
import json
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf
import torch
import yaml

from cli_checks import expect_error  # noqa: F401  (re-exported for the catalogue tests)

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "egs2" / "dcase26t4" / "s5"
MINI_CONF = RECIPE / "conf" / "mini"
KILL_WRAPPER = Path(__file__).with_name("kill_wrapper.py")
PY = sys.executable


@functools.lru_cache(maxsize=None)
def corpus_conftest() -> ModuleType:
    """tests/corpus/conftest.py (FileServer, clone_dev), reused rather than duplicated."""
    spec = importlib.util.spec_from_file_location("corpus_conftest", REPO / "tests" / "corpus" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def env() -> Dict[str, str]:
    """Environment for subprocesses: one BLAS thread, unbuffered output."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def recipe_copy(root: Path) -> Path:
    """A copy of the recipe at ``root/egs2/dcase26t4/s5`` (scripts, conf/, local/; utils linked to the
    repository's), where run.sh may write and fail without touching the real recipe folder."""
    recipe = Path(root) / "egs2" / "dcase26t4" / "s5"
    recipe.mkdir(parents=True)
    for name in ("run.sh", "path.sh", "cmd.sh", "db.sh", "conf", "local"):
        src = RECIPE / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, recipe / name)
    (recipe / "utils").symlink_to(REPO / "utils")
    return recipe


def run_sh(recipe: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``./run.sh args`` in ``recipe`` with this Python's environment on PATH."""
    return subprocess.run(["./run.sh", *args], cwd=recipe, capture_output=True, text=True, timeout=timeout,
                          env={**env(), "DCASE26T4_NO_VENV": "1", "PATH": f"{Path(PY).parent}:{os.environ['PATH']}"})


def listing(folder: Path) -> Optional[List[str]]:
    """Every file and link under ``folder`` (hidden ones too), or None if it does not exist."""
    folder = Path(folder)
    if not folder.exists():
        return None
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() or p.is_symlink())


def traceback_sections(sections: Sequence[Tuple[str, str]]) -> List[str]:
    """Titles of the captured stdout/stderr sections (pytest ``report.sections``) holding a
    traceback (log sections are left out: debug logs record handled errors with their stack)."""
    return [title for title, text in sections
            if ("stdout" in title or "stderr" in title) and "Traceback" in text]


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run in-process torch code on one thread, like the subprocesses (bit-identical results)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def decode_args(models, soundscape_dir: Path, out: Path) -> List[str]:
    """s5_inference arguments for the tiny models (CPU, one soundscape per batch)."""
    return ["--soundscape_dir", str(soundscape_dir), "--output_dir", str(out),
            "--tagger_ckpt", str(models.tagger), "--separator_ckpt", str(models.separator),
            "--tagger_type", "m2d_at_1c", "--device", "cpu", "--batch_size", "1"]


def same_file(a: Path, b: Path) -> None:
    """Equal content: WAVs sample for sample (and format), other files byte for byte.

    (libsndfile stamps float WAVs with a PEAK chunk holding the write time, so their
    bytes differ between runs even when every sample is equal.)
    """
    if a.name == "identity.json":      # what produced the folder; its creation time differs
        ja, jb = json.loads(a.read_text()), json.loads(b.read_text())
        assert (ja["kind"], ja["identity"]) == (jb["kind"], jb["identity"]), f"{a.name}: identity differs"
    elif a.suffix == ".wav":
        (wa, ra), (wb, rb) = sf.read(a, dtype="float32"), sf.read(b, dtype="float32")
        assert (ra, sf.info(a).subtype) == (rb, sf.info(b).subtype), a.name
        assert wa.shape == wb.shape and np.array_equal(wa, wb), f"{a.name}: samples differ"
    else:
        assert a.read_bytes() == b.read_bytes(), f"{a.name}: bytes differ"


def same_files(a: Path, b: Path) -> None:
    """``a`` and ``b`` hold the same file names with the same content (see :func:`same_file`)."""
    assert listing(a) == listing(b)
    for rel in listing(a):
        same_file(a / rel, b / rel)


# ------------------------------------------------------------------------------ training
def tiny_training_config(m2d_weight_file: Path) -> dict:
    """conf/mini/tag_head_1c.yaml shrunk: 2 s scenes, 32 items, batch 4, 3 epochs, small head."""
    c = yaml.safe_load((MINI_CONF / "tag_head_1c.yaml").read_text())
    c["tagger_conf"].update(weight_file=str(m2d_weight_file),
                            head_args={"track_input_dim": 64, "track_hidden_dim": 32})
    c.update(batch_size=4, valid_batch_size=2, num_workers=0, max_epoch=3, keep_nbest_models=1,
             use_tensorboard=False, use_matplotlib=False, log_interval=100)
    c["train_data_conf"]["dataset_length"] = 32
    c["train_data_conf"]["spatial_sound_scene"].update(duration=2.0, max_event_dur=2.0)
    return c


def train_args(config: Path, exp: Path, valid_dir: Path, corpus: Path) -> List[str]:
    return ["--config", str(config), "--output_dir", str(exp), "--valid_data_dir", str(valid_dir),
            "--corpus_root", str(corpus), "--ngpu", "0", "--resume", "true"]


def train(args: Sequence[str], log: Path, wrapper: Sequence[str] = ()) -> subprocess.CompletedProcess:
    """Run s5_tag_train to the end (optionally under kill_wrapper.py), output in ``log``."""
    if wrapper:
        cmd = [PY, str(KILL_WRAPPER), *wrapper, "espnet2_ext.bin.s5_tag_train", *args]
    else:
        cmd = [PY, "-m", "espnet2_ext.bin.s5_tag_train", *args]
    with open(log, "a") as f:
        return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env(), timeout=300)


def final_state(exp: Path) -> Dict[str, Dict[str, torch.Tensor]]:
    """What a finished training leaves: the last model file and the checkpoint's states."""
    ckpt = torch.load(exp / "checkpoint.pth", map_location="cpu", weights_only=False)
    return {"latest": torch.load(exp / "latest.pth", map_location="cpu"),
            "checkpoint.model": ckpt["model"],
            "checkpoint.optimizer": flat_optimizer_state(ckpt["optimizers"][0]),
            "epoch": {"epoch": torch.tensor(ckpt["reporter"]["epoch"])}}


def flat_optimizer_state(state: dict) -> Dict[str, torch.Tensor]:
    return {f"{p}.{k}": torch.as_tensor(v) for p, s in state["state"].items() for k, v in s.items()}


def assert_same_state(a: Dict[str, Dict[str, torch.Tensor]], b: Dict[str, Dict[str, torch.Tensor]]) -> None:
    """Exactly equal tensors (bit for bit) in every part."""
    assert a.keys() == b.keys()
    for part in a:
        assert a[part].keys() == b[part].keys(), part
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}: {k} differs"
