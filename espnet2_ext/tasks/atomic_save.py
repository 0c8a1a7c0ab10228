"""Make espnet2's checkpoint writes atomic (imported by our tasks, see ``s5_abs_task``).

Why: espnet2's ``Trainer.run`` writes ``checkpoint.pth`` (model, optimizer, reporter
state: what ``--resume true`` reads) and ``<N>epoch.pth`` with a plain
``torch.save(obj, path)``, which truncates the file first and then streams into it.
A job killed during that write (preemption, time limit, Ctrl-C, OOM killer) leaves
a truncated ``checkpoint.pth`` behind, and the rerun that should resume fails to
load it: the whole training is lost. ``average_nbest_models`` writes the averaged
models the same way.

How: :func:`install` replaces the name ``torch`` *inside those two espnet2 modules*
by :class:`AtomicSaveTorch`, a stand-in whose ``save(obj, path)`` writes to a
temporary file in the same folder (``.<name>.<random>.pth.part``), flushes it to
disk and renames it over ``path`` (``os.replace`` is atomic on POSIX), while every
other attribute (``torch.nn``, ``torch.load``, ``torch.cuda``, ...) is the real
``torch``. A kill therefore leaves either the previous complete file or the new
complete one, never a partial one. Nothing else in the process is affected, and
installing twice is a no-op. Temporaries left by a killed save are removed by the
next save of the same file.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path
from types import ModuleType

import torch

from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.fileio import write_torch

#: espnet2 modules whose ``torch.save(obj, path)`` calls are made atomic
PATCHED_MODULES = ("espnet2.train.trainer", "espnet2.main_funcs.average_nbest_models")


def save_atomically(obj: object, path: os.PathLike) -> None:
    """``torch.save(obj, path)`` through a temporary file + fsync + rename."""
    path = Path(path)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.part"):   # left by a kill
        stale.unlink(missing_ok=True)
    write_torch(path, obj)


class AtomicSaveTorch:
    """Stands in for the ``torch`` module: atomic ``save`` to a path, all else delegated."""

    def __getattr__(self, name: str):
        return getattr(torch, name)

    @staticmethod
    def save(obj: object, f, *args, **kwargs) -> None:
        if isinstance(f, (str, os.PathLike)) and not args and not kwargs:
            save_atomically(obj, f)
        else:   # file objects or unusual options: plain torch.save
            torch.save(obj, f, *args, **kwargs)


def install() -> None:
    """Patch the espnet2 modules of :data:`PATCHED_MODULES` (idempotent)."""
    for name in PATCHED_MODULES:
        module: ModuleType = quiet_import(name)
        if not isinstance(module.torch, AtomicSaveTorch):
            module.torch = AtomicSaveTorch()
