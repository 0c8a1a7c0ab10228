"""espnet2's Trainer with a resume that fails clearly and repairs what a kill can leave out.

``--resume true`` (what ``local/train.sh`` passes) reloads ``<exp>/checkpoint.pth``
(model, optimizers, schedulers, reporter) and continues after the last finished
epoch; every epoch reseeds the RNGs with ``seed + epoch`` and our training data is a
pure function of ``(seed, epoch, index)``, so a resumed run ends with the same
weights as an uninterrupted one.

* ``checkpoint.pth`` is read without running code from it (:mod:`espnet2_ext.tasks.espnet_torch`):
  one that asks for anything outside the allow-list is refused with an error naming it.
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

import json
import logging
import os
from pathlib import Path
from typing import List, Sequence

import torch
import yaml

from espnet2_ext.errors import S5InputError
from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.s5.checkpoints import RefusedModelFile
from espnet2_ext.tasks import espnet_torch
from espnet2_ext.tasks.atomic_save import save_atomically
from espnet2_ext.tasks.exact_validation import validation_means

espnet2_trainer = quiet_import("espnet2.train.trainer")
Trainer = espnet2_trainer.Trainer
log = logging.getLogger(__name__)

#: written next to an officially resumed stage-5 checkpoint: {"carried_epoch": N, "source": ...}
CARRIED_EPOCH_FILE = "official_resume.json"


def carried_epoch(output_dir: Path) -> int:
    """The stage-4 epoch counter an official resume carried into ``output_dir`` (0 if none)."""
    marker = output_dir / CARRIED_EPOCH_FILE
    if not marker.is_file():
        return 0
    try:
        return int(json.loads(marker.read_text())["carried_epoch"])
    except (ValueError, KeyError, TypeError) as e:
        raise S5InputError(f"{marker}: not a valid official-resume record ({e}); delete it and rerun "
                           f"stage 5 (it is rewritten by s5_stage5_init)") from e


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
    if epoch < 1 or epoch not in reporter.stats:   # nothing trained here yet (an official resume)
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
    """espnet2 ``Trainer``: clear resume errors and repaired epoch files, exact validation,
    and ``max_epoch`` counted after an official resume's carried epoch counter."""

    @classmethod
    def run(cls, model, optimizers, schedulers, train_iter_factory, valid_iter_factory,
            plot_attention_iter_factory, trainer_options, distributed_option) -> None:
        offset = carried_epoch(Path(trainer_options.output_dir))
        if offset:
            log.info("official resume: epochs %d..%d (max_epoch %d after the carried stage-4 counter %d)",
                     offset + 1, offset + trainer_options.max_epoch, trainer_options.max_epoch, offset)
            trainer_options.max_epoch += offset
        super().run(model, optimizers, schedulers, train_iter_factory, valid_iter_factory,
                    plot_attention_iter_factory, trainer_options, distributed_option)

    @classmethod
    def validate_one_epoch(cls, model, iterator, reporter, options, distributed_option) -> None:
        """One validation pass: every item once, statistics reduced exactly across ranks."""
        def autocast():   # as espnet2's training step: CUDA autocast only (bf16 where supported)
            return torch.autocast("cuda", enabled=options.use_amp, **espnet2_trainer.autocast_args)

        on_gpu = options.ngpu > 0
        means, count = validation_means(model, iterator, "cuda" if on_gpu else "cpu", autocast if on_gpu else None)
        if count:
            reporter.register(means, count)
            reporter.next()

    @classmethod
    def resume(cls, checkpoint, model, reporter, optimizers, schedulers, scaler,
               ngpu: int = 0, strict: bool = True) -> None:
        """espnet2's resume, reading ``checkpoint`` with our code-free loader (a file that asks
        for anything outside the allow-list is refused as it is, not called damaged)."""
        espnet_torch.install()
        try:
            super().resume(checkpoint=checkpoint, model=model, reporter=reporter,
                           optimizers=optimizers, schedulers=schedulers, scaler=scaler,
                           ngpu=ngpu, strict=strict)
        except RefusedModelFile:
            raise
        except Exception as e:
            raise S5InputError(
                f"cannot resume training from {checkpoint}: {type(e).__name__}: {str(e).rstrip('.')}. The file is "
                f"damaged or belongs to another model/config. Delete it to restart this training "
                f"from epoch 1 (or restore a good copy), then rerun.") from e
        if _is_main_rank():
            repair_epoch_files(Path(checkpoint).parent, model, reporter)

