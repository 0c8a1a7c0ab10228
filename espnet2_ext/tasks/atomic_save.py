"""Atomic writes of espnet2's checkpoint files (used through :mod:`espnet2_ext.tasks.espnet_torch`).

Why: espnet2's ``Trainer.run`` writes ``checkpoint.pth`` (model, optimizer, reporter
state: what ``--resume true`` reads) and ``<N>epoch.pth`` with a plain
``torch.save(obj, path)``, which truncates the file first and then streams into it.
A job killed during that write (preemption, time limit, Ctrl-C, OOM killer) leaves
a truncated ``checkpoint.pth`` behind, and the rerun that should resume fails to
load it: the whole training is lost. ``average_nbest_models`` writes the averaged
models the same way.

How: :func:`save_atomically` writes to a temporary file in the same folder
(``.<name>.<random>.pth.part``), flushes it to disk and renames it over ``path``
(``os.replace`` is atomic on POSIX). A kill therefore leaves either the previous
complete file or the new complete one, never a partial one. Temporaries left by a
killed save are removed by the next save of the same file. espnet2's ``torch.save``
calls reach it through :class:`espnet2_ext.tasks.espnet_torch.EspnetTorch`.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path

from espnet2_ext.fileio import write_torch


def save_atomically(obj: object, path: os.PathLike) -> None:
    """``torch.save(obj, path)`` through a temporary file + fsync + rename."""
    path = Path(path)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.part"):   # left by a kill
        stale.unlink(missing_ok=True)
    write_torch(path, obj)
