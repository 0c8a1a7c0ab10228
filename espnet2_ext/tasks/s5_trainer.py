"""espnet2's Trainer with a resume that fails clearly and repairs what a kill can leave out.

``--resume true`` (what ``local/train.sh`` passes) reloads ``<exp>/checkpoint.pth``
(model, optimizers, schedulers, reporter) and continues after the last finished
epoch; every epoch reseeds the RNGs with ``seed + epoch`` and our training data is a
pure function of ``(seed, epoch, index)``, so a resumed run ends with the same
weights as an uninterrupted one.

* An unreadable ``checkpoint.pth`` (damaged copy, full disk, another model's file)
  stops with an error naming it. We do not silently restart from epoch 1, which would
  throw away a long training: delete the file to restart, or restore it. (Our own
  writes cannot truncate it: see :mod:`espnet2_ext.tasks.atomic_save`.)
* espnet2 writes ``checkpoint.pth`` of epoch N *before* ``<N>epoch.pth``,
  ``latest.pth`` and ``<phase>.<key>.best.pth``. A kill in between would resume
  without them (the final n-best averaging then fails, and a best link can end up
  dangling once older epochs are cleaned), so after loading we re-create whatever
  of them is missing, from the loaded model and the reporter.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import List, Sequence

import torch
import yaml

from espnet2_ext.errors import S5InputError
from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.tasks.atomic_save import save_atomically

Trainer = quiet_import("espnet2.train.trainer").Trainer
log = logging.getLogger(__name__)


def relink(link: Path, target: str) -> None:
    """Make ``link`` a symlink to ``target`` (a name in the same folder), atomically."""
    if link.is_symlink() and os.readlink(link) == target:
        return
    tmp = link.with_name(f".{link.name}.relink")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


def best_model_criterion(output_dir: Path) -> List[Sequence[str]]:
    """``best_model_criterion`` of the run, from the ``config.yaml`` espnet2 wrote at start."""
    try:
        config = yaml.safe_load((output_dir / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []
    return [c for c in config.get("best_model_criterion") or [] if len(c) == 3]


def repair_epoch_files(output_dir: Path, model: torch.nn.Module, reporter) -> None:
    """Re-create ``<N>epoch.pth``, ``latest.pth`` and the best links after resuming at epoch N."""
    epoch = reporter.get_epoch()
    if epoch < 1:
        return
    model_file = output_dir / f"{epoch}epoch.pth"
    if not model_file.is_file():
        log.warning("%s is missing (the job was killed while saving); writing it from %s",
                    model_file, output_dir / "checkpoint.pth")
        save_atomically(model.state_dict(), model_file)
    relink(output_dir / "latest.pth", model_file.name)
    for phase, key, mode in best_model_criterion(output_dir):
        if reporter.has(phase, key):
            best = output_dir / f"{reporter.get_best_epoch(phase, key, mode)}epoch.pth"
            if best.is_file():
                relink(output_dir / f"{phase}.{key}.best.pth", best.name)


def _is_main_rank() -> bool:
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


class S5Trainer(Trainer):
    """espnet2 ``Trainer`` whose :meth:`resume` fails clearly and repairs the epoch files."""

    @classmethod
    def resume(cls, checkpoint, model, reporter, optimizers, schedulers, scaler,
               ngpu: int = 0, strict: bool = True) -> None:
        try:
            super().resume(checkpoint=checkpoint, model=model, reporter=reporter,
                           optimizers=optimizers, schedulers=schedulers, scaler=scaler,
                           ngpu=ngpu, strict=strict)
        except Exception as e:
            raise S5InputError(
                f"cannot resume training from {checkpoint}: {type(e).__name__}: {str(e).rstrip('.')}. The file is "
                f"damaged or belongs to another model/config. Delete it to restart this training "
                f"from epoch 1 (or restore a good copy), then rerun.") from e
        if _is_main_rank():
            repair_epoch_files(Path(checkpoint).parent, model, reporter)

