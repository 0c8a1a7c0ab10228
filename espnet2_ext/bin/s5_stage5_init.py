"""Prepare stage 5 (tagger block fine-tuning) from the best stage-4 model.

Writes ``<dst_exp>/init.pth`` (the best stage-4 weights, given to the trainer
as ``--init_param``), so stage 5 starts from them with a *fresh* optimizer at
its own learning rate (1e-5 in the official config), as the baseline intends.

``--official_resume true`` reproduces the official ``train.py -r epoch=N.ckpt``
instead: the stage-4 optimizer state (lr 1e-3 after load_state_dict) and epoch
counter N are carried over too. espnet2 keeps optimizer state only for the last
epoch, so the checkpoint is assembled from the best weights and the last
stage-4 optimizer state; the reporter keeps the counter but not the stage-4
statistics (the best stage-5 model is chosen among stage-5 epochs, whose files
are the only ones in this folder). ``official_resume.json`` records N, and the
trainer then runs the configured ``max_epoch`` epochs after it (N+1 .. N+max_epoch),
as the official run continues after ``-r`` with ``max_epochs: -1``. A stage-5 run
that already started is never touched (its own checkpoint.pth wins, so reruns resume).
"""
from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

from espnet2_ext.errors import S5InputError, cli_main
from espnet2_ext.output_paths import check_output_dir
from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.fileio import atomic_path, write_json, write_torch
from espnet2_ext.identity import empty_folder, file_digest, keep_logs, read_record
from espnet2_ext.s5.checkpoints import read_checkpoint
from espnet2_ext.tasks.s5_trainer import CARRIED_EPOCH_FILE

str2bool = quiet_import("espnet2.utils.types").str2bool


def best_model_file(exp: Path) -> Path:
    """``exp/valid.loss.best.pth`` resolved, with a clear error if stage 4 has not finished."""
    best = exp / "valid.loss.best.pth"
    if not best.exists():
        raise S5InputError(f"{best} not found: run stage 4 (train the tagger head) for {exp} first")
    return best.resolve()


def check_started_stage5(best: Path, dst_exp: Path, official_resume: bool, overwrite: bool) -> None:
    """A stage 5 already started in ``dst_exp`` must come from the same stage-4 model and
    resume mode; else stop (or, with ``overwrite``, empty the folder so that it restarts)."""
    record = read_record(dst_exp) if dst_exp.is_dir() else None
    if record is None:
        return
    started_from = (record["identity"].get("init_param") or [None])[0]
    was_official = (dst_exp / CARRIED_EPOCH_FILE).exists()
    why = []
    if started_from != file_digest(best):
        why.append(f"it started from another stage-4 model (now {best})")
    if was_official != official_resume:
        why.append(f"it was started with --official_resume {str(was_official).lower()}")
    if not why:
        return
    if not overwrite:
        raise S5InputError(f"{dst_exp} holds a stage-5 training that does not match: {'; '.join(why)}. "
                           f"Use another --tag_tag, or --overwrite true to delete it and start again")
    logging.warning("--overwrite true: emptying %s (%s)", dst_exp, "; ".join(why))
    empty_folder(dst_exp, keep_logs)


def prepare(src_exp: Path, dst_exp: Path, official_resume: bool, overwrite: bool = False) -> Path:
    """Write dst_exp/init.pth (and checkpoint.pth when official_resume); return init.pth."""
    best = best_model_file(src_exp)
    check_started_stage5(best, dst_exp, official_resume, overwrite)
    dst_exp.mkdir(parents=True, exist_ok=True)
    init = dst_exp / "init.pth"
    with atomic_path(init) as tmp:
        shutil.copyfile(best, tmp)
    (dst_exp / "init_source.txt").write_text(f"{best}\nofficial_resume={official_resume}\n")
    logging.info("stage 5 starts from %s", best)
    ckpt = dst_exp / "checkpoint.pth"
    if not official_resume and not ckpt.exists():    # a fresh start: no stale carried counter
        (dst_exp / CARRIED_EPOCH_FILE).unlink(missing_ok=True)
    if official_resume and not ckpt.exists():
        states = read_checkpoint(src_exp / "checkpoint.pth")
        epoch = int(states["reporter"]["epoch"])
        states["model"] = read_checkpoint(best)
        states["reporter"] = {"epoch": epoch, "stats": {}}
        write_json(dst_exp / CARRIED_EPOCH_FILE, {"carried_epoch": epoch, "source": str(src_exp / "checkpoint.pth")})
        write_torch(ckpt, states)
        logging.info("official resume: carried the stage-4 optimizer state and epoch counter %d (%s)",
                     epoch, src_exp / "checkpoint.pth")
    return init


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src_exp", type=Path, required=True, help="stage-4 experiment directory")
    p.add_argument("--dst_exp", type=Path, required=True, help="stage-5 experiment directory")
    p.add_argument("--official_resume", type=str2bool, default=False,
                   help="true: also carry the stage-4 optimizer state (official -r behaviour)")
    p.add_argument("--overwrite", type=str2bool, default=False,
                   help="true: restart a stage 5 begun from another stage-4 model or resume mode")
    return p


@cli_main
def main(cmd=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    args = get_parser().parse_args(cmd)
    check_output_dir(args.dst_exp, "--dst_exp")
    prepare(args.src_exp, args.dst_exp, args.official_resume, args.overwrite)


if __name__ == "__main__":
    main()
