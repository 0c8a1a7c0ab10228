"""espnet2's own file I/O made safe: atomic saves, and loads that never run code.

espnet2 reads and writes model-like files with plain ``torch.save`` / ``torch.load``
calls in three modules:

* ``espnet2.train.trainer``: ``checkpoint.pth`` and ``<N>epoch.pth`` written every epoch;
  ``Trainer.resume`` reads ``checkpoint.pth`` with ``weights_only=False``;
* ``espnet2.main_funcs.average_nbest_models``: reads ``<N>epoch.pth`` (``weights_only=False``)
  and writes the averaged models;
* ``espnet2.torch_utils.load_pretrained_model``: reads the ``--init_param`` files
  (``weights_only=False``), for ``AbsTask.main_worker`` and :mod:`espnet2_ext.bin.s5_train_summary`.

A ``weights_only=False`` load runs any code a crafted file asks for. :func:`install`
replaces the name ``torch`` *inside those modules* by :class:`EspnetTorch`, a stand-in
whose ``save(obj, path)`` is :func:`espnet2_ext.tasks.atomic_save.save_atomically` (a kill
never leaves a truncated file) and whose ``load`` is
:func:`espnet2_ext.s5.checkpoints.load_torch_file` (``weights_only=True`` with our minimal
allow-list, whatever ``weights_only`` espnet2 passes), while every other attribute is the
real ``torch``. ``torch.load`` itself is left alone, for every other module of the
process; installing twice is a no-op. Our tasks install it in ``main`` and in every
``main_worker`` (the process that trains, also when espnet2 spawns one per GPU), and
:class:`espnet2_ext.tasks.s5_trainer.S5Trainer` again before resuming.
"""
from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import torch

from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.s5.checkpoints import load_torch_file
from espnet2_ext.tasks.atomic_save import save_atomically

#: espnet2 modules whose ``torch.save`` / ``torch.load`` calls go through :class:`EspnetTorch`
PATCHED_MODULES = ("espnet2.train.trainer", "espnet2.main_funcs.average_nbest_models",
                   "espnet2.torch_utils.load_pretrained_model")


class EspnetTorch:
    """Stands in for the ``torch`` module: atomic ``save`` to a path, code-free ``load``,
    all else delegated to ``torch``."""

    def __getattr__(self, name: str):
        return getattr(torch, name)

    @staticmethod
    def save(obj: object, f, *args, **kwargs) -> None:
        if isinstance(f, (str, os.PathLike)) and not args and not kwargs:
            save_atomically(obj, f)
        else:   # file objects or unusual options: plain torch.save
            torch.save(obj, f, *args, **kwargs)

    @staticmethod
    def load(f, map_location: Any = None, weights_only: object = None, **kwargs) -> Any:
        """``load_torch_file(f, map_location)``; espnet2's ``weights_only=False`` is ignored."""
        if kwargs:
            raise TypeError(f"torch.load options {sorted(kwargs)} are not supported for model files")
        return load_torch_file(f, map_location=map_location)


def install() -> None:
    """Patch the espnet2 modules of :data:`PATCHED_MODULES` (idempotent)."""
    for name in PATCHED_MODULES:
        module: ModuleType = quiet_import(name)
        if not isinstance(module.torch, EspnetTorch):
            module.torch = EspnetTorch()


def load_pretrained_model(init_param: str, model: torch.nn.Module, ignore_init_mismatch: bool = False,
                          map_location: Any = "cpu") -> None:
    """espnet2's ``load_pretrained_model`` (``<file>[:<src_key>[:<dst_key>[:<excludes>]]]``),
    with the file loaded by :func:`load_torch_file`."""
    install()
    espnet2_loader = quiet_import("espnet2.torch_utils.load_pretrained_model").load_pretrained_model
    espnet2_loader(init_param=init_param, model=model, ignore_init_mismatch=ignore_init_mismatch,
                   map_location=map_location)
