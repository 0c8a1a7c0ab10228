"""The suite's mini corpora, each built once per test run and shared by every test folder.

Two configurations serve the whole suite:

* ``DEFAULT``: what ``run.sh --mini true`` builds (corpus checks, the recipe runs);
* ``SMALL``: a corpus of a few seconds with 2 s soundscapes (training, DDP, reliability,
  long-form and add-external tests).

``shared_mini_corpus`` builds a configuration on first use, under a file lock in the run's
temporary root, which every pytest-xdist worker of one run shares (``pytest-N/``; with ``-n 0``
the run's own basetemp). A test reads the shared corpus in place; a test that changes files
takes ``private_copy`` first. ``shared_folder`` does the same for anything else derived from a
corpus (a rendered validation set).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

from espnet2_ext.corpus.mini import MiniCorpusConfig, build_mini_corpus, is_built
from espnet2_ext.corpus.mini.build import config_to_stamp

DEFAULT = MiniCorpusConfig()
SMALL = MiniCorpusConfig.small(seed=0, n_valid=3, n_test=3, scene_seconds=2.0)


def run_root(tmp_path_factory) -> Path:
    """The temporary folder that all workers of this test run share."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_folder(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """``run_root/shared/<name>``, made by ``build(folder)`` once per run.

    Built in place (what it writes may name its own path), under a lock that concurrent callers
    wait on; ``<name>.done`` marks a finished build, so a failed one is removed and retried.
    """
    shared = run_root(tmp_path_factory) / "shared"
    shared.mkdir(exist_ok=True)
    out, done = shared / name, shared / f"{name}.done"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            try:
                build(out)
            except BaseException:
                shutil.rmtree(out, ignore_errors=True)
                raise
            done.touch()
    return out


def shared_mini_corpus(tmp_path_factory, cfg: MiniCorpusConfig = DEFAULT) -> Path:
    """The mini corpus of ``cfg``, built once per test run. Read it; do not change it."""
    key = hashlib.sha256(json.dumps(config_to_stamp(cfg), sort_keys=True).encode()).hexdigest()[:12]
    corpus = shared_folder(tmp_path_factory, f"mini-corpus-{key}",
                           lambda tmp: build_mini_corpus(tmp / "corpus", cfg)) / "corpus"
    assert is_built(corpus, cfg), corpus
    return corpus


def private_copy(corpus: Path, dst: Path) -> Path:
    """A real copy of a shared corpus at ``dst``, for a test that adds, removes or rewrites files."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(corpus, dst, symlinks=True)
    return dst
