"""Print the learning figures of an S5 training run (the stage log shows them).

Reads the per-epoch statistics espnet2 keeps in ``<exp>/checkpoint.pth`` and
measures the *untrained* starting point once: the model is rebuilt from
``config.yaml`` with the same seed (and ``--init_param``) the trainer used, and
scored on the validation set (cached in ``<exp>/initial_valid.json``).

    python -m espnet2_ext.bin.s5_train_summary --exp exp/sep_resunetk
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List

import yaml

from espnet2_ext.errors import S5InputError, cli_main
from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.fileio import write_json
from espnet2_ext.s5.checkpoints import read_checkpoint
from espnet2_ext.tasks.espnet_torch import load_pretrained_model
from espnet2_ext.tasks.exact_validation import validation_means


def task_of(config: dict):
    """The task class that wrote ``config`` (tagging if it has a tagger)."""
    if "tagger" in config:
        from espnet2_ext.tasks.s5_tag import S5TaggingTask
        return S5TaggingTask
    from espnet2_ext.tasks.s5_sep import S5SeparationTask
    return S5SeparationTask


def initial_valid_stats(exp: Path) -> Dict[str, float]:
    """Validation stats of the model as training started (cached in initial_valid.json)."""
    cache = exp / "initial_valid.json"
    if cache.exists():
        return json.loads(cache.read_text())
    config = yaml.safe_load((exp / "config.yaml").read_text())
    args = argparse.Namespace(**config)
    task = task_of(config)
    quiet_import("espnet2.torch_utils.set_all_random_seed").set_all_random_seed(args.seed)
    model = task.build_model(args)
    for p in args.init_param or []:
        load_pretrained_model(init_param=p, model=model, ignore_init_mismatch=False, map_location="cpu")
    batch = args.valid_batch_size or args.batch_size
    factory = task.build_task_iter_factory(
        args, SimpleNamespace(batch_size=batch, distributed=False), "valid")
    factory.num_workers = 0
    stats, _ = validation_means(model, factory.build_iter(0), "cpu")
    write_json(cache, stats)
    return stats


def epoch_rows(exp: Path) -> List[dict]:
    """Per-epoch train/valid stats from espnet2's reporter state."""
    states = read_checkpoint(exp / "checkpoint.pth")
    rows = []
    for epoch, phases in sorted(states["reporter"]["stats"].items()):
        row = {"epoch": epoch}
        for phase in ("train", "valid"):
            for k, v in phases.get(phase, {}).items():
                if k in ("loss", "acc_mix", "acc_src", "acc_slot"):
                    row[f"{phase}_{k}"] = float(v)
        rows.append(row)
    return rows


def summarize(exp: Path) -> str:
    """The learning-figures report of ``exp`` as text."""
    if not (exp / "checkpoint.pth").exists():
        raise S5InputError(f"{exp}/checkpoint.pth not found: training of {exp} has not finished an epoch")
    rows = epoch_rows(exp)
    init = initial_valid_stats(exp)
    keys = [k for k in rows[0] if k != "epoch"]
    lines = [f"Learning figures for {exp}",
             "epoch " + " ".join(f"{k:>12s}" for k in keys)]
    for r in rows:
        lines.append(f"{r['epoch']:5d} " + " ".join(f"{r.get(k, float('nan')):12.4f}" for k in keys))
    best = min(rows, key=lambda r: r.get("valid_loss", float("inf")))
    lines.append("initial (untrained) valid: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(init.items())))
    lines.append(f"best epoch {best['epoch']}: valid loss {best['valid_loss']:.4f} "
                 f"(initial {init['loss']:.4f}, change {best['valid_loss'] - init['loss']:+.4f})")
    if "valid_acc_mix" in best:
        lines.append(f"best epoch valid accuracy: mixture {100 * best['valid_acc_mix']:.1f} %, "
                     f"source {100 * best.get('valid_acc_src', float('nan')):.1f} % "
                     f"(initial {100 * init.get('acc_mix', float('nan')):.1f} % / "
                     f"{100 * init.get('acc_src', float('nan')):.1f} %)")
    return "\n".join(lines)


@cli_main
def main(cmd=None) -> None:
    logging.basicConfig(level=logging.WARNING)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", type=Path, required=True, help="experiment directory (exp/<tag>)")
    args = p.parse_args(cmd)
    print(summarize(args.exp))


if __name__ == "__main__":
    main()
