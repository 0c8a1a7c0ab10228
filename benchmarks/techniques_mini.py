"""The "Mini-run figures" table of docs/beyond_baseline.md: each option through run.sh, mini corpus.

    python benchmarks/techniques_mini.py --work /tmp/techniques [--nj 2]

Copies the recipe folder to ``--work/s5`` (once), runs the baseline (``./run.sh --mini true
--tagger_variants 4c``, stages 1-8) and then each option's row command on top of it, as a user
would, and prints the table in the docs' markdown. A rerun reuses finished stages' outputs only
where run.sh itself does (it retrains, since training folders are identity-checked and
``--overwrite`` is not given: delete ``--work`` to start over). It takes about 20 minutes on 2 cores.

Figures per row: the dev-test scores from the decode folder's ``test/score/results.json``; the
tagger's and the separator's best epoch from their ``checkpoint.pth`` (as ``s5_train_summary``
prints them); for calibrated rows, what the fit reached on the validation mixtures it was fitted
on (in-sample), from the calibration file. The mini corpus is synthetic and tiny: these figures
show that each option trains, decodes and scores, nothing about its value on real data.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from espnet2_ext import validate  # noqa: E402
from espnet2_ext.bin.s5_train_summary import epoch_rows  # noqa: E402
from espnet2_ext.errors import cli_main  # noqa: E402
from espnet2_ext.s5.calibration import TABLE_KEYS  # noqa: E402

RECIPE = REPO / "egs2" / "dcase26t4" / "s5"
BASE = ("--mini", "true", "--tagger_variants", "4c")
MADE = {"mini", "data", "exp", "checkpoint", "downloads"}     # run-time folders of a recipe copy


@dataclass(frozen=True)
class Row:
    """One table row: the run.sh options after BASE, and where its figures are."""
    options: Tuple[str, ...]
    decode: str                      # exp/<decode>/test/score/results.json
    tagger: str = "tag_blocks_4c"    # exp/<tagger>: the tagger the row decodes with
    separator: str = "sep_resunetk"  # exp/<separator>
    calibration: Optional[str] = None   # the fit's file, relative to exp/


ROWS = [
    Row((), "decode_4c_resunetk_valid.loss.best"),
    Row(("--stage", "7", "--stop-stage", "8", "--calibrate", "true"),
        "decode_4c_resunetk_valid.loss.best_calib", calibration="tag_blocks_4c/calibration_valid.loss.best.json"),
    Row(("--stage", "7", "--stop-stage", "8", "--calibrate", "true", "--calibration_objective", "capi_sdri"),
        "decode_4c_resunetk_valid.loss.best_calib_capi",
        calibration="decode_4c_resunetk_valid.loss.best_calib_capi/calibration.json"),
    Row(("--stage", "4", "--stop-stage", "8", "--tag_tag", "full_4c",
         "--tag_blocks_config", "conf/mini/tag_blocks_full_4c.yaml"),
        "decode_full_4c_resunetk_valid.loss.best", tagger="tag_blocks_full_4c"),
    Row(("--stage", "4", "--stop-stage", "8", "--tag_tag", "sed_4c",
         "--tag_head_config", "conf/mini/tag_head_sed_4c.yaml",
         "--tag_blocks_config", "conf/mini/tag_blocks_sed_4c.yaml",
         "--sep_config", "conf/mini/sep_resunetk_tfilm.yaml"),
        "decode_sed_4c_resunetk_tfilm_valid.loss.best", tagger="tag_blocks_sed_4c", separator="sep_resunetk_tfilm"),
    Row(("--stage", "6", "--stop-stage", "8", "--sep_tag", "resunetk_iter",
         "--sep_config", "conf/mini/sep_resunetk_iter.yaml"),
        "decode_4c_resunetk_iter_valid.loss.best", separator="sep_resunetk_iter"),
]


def recipe_copy(work: Path) -> Path:
    """``work/s5``: the recipe's files (not its run-time folders), utils linked to the checkout's."""
    s5 = work / "s5"
    if not s5.is_dir():
        shutil.copytree(RECIPE, s5, symlinks=True,
                        ignore=lambda d, names: MADE & set(names) if d == str(RECIPE) else set())
        (s5 / "utils").unlink()
        (s5 / "utils").symlink_to(REPO / "utils")
    return s5


def run_sh(s5: Path, options: Tuple[str, ...], nj: int) -> float:
    """Run ``./run.sh BASE --nj nj options`` (log in exp/techniques_mini/); its wall seconds."""
    log = s5 / "exp" / "techniques_mini" / (("_".join(o.strip("-").replace("/", "_") for o in options) or "baseline") + ".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["./run.sh", *BASE, "--nj", str(nj), *options]
    print("$ " + " ".join(cmd), flush=True)
    start = time.perf_counter()
    with open(log, "w") as out:
        res = subprocess.run(cmd, cwd=s5, stdout=out, stderr=subprocess.STDOUT,
                             env={**os.environ, "cmd_backend": "local"})
    if res.returncode != 0:
        sys.exit(f"ERROR: {' '.join(cmd)} failed ({res.returncode}); see {log}")
    return time.perf_counter() - start


def best_epoch(exp: Path) -> dict:
    rows = epoch_rows(exp)
    return min(rows, key=lambda r: r["valid_loss"])


def row_cells(s5: Path, row: Row) -> List[str]:
    exp = s5 / "exp"
    scores = json.loads((exp / row.decode / "test" / "score" / "results.json").read_text())
    tag = best_epoch(exp / row.tagger)
    sep = best_epoch(exp / row.separator)
    fit = "–"
    if row.calibration:
        info = json.loads((exp / row.calibration).read_text())
        fit = "; ".join(f"{name}: {info[key]['argmax']:.2f} -> {info[key]['calibrated']:.2f}"
                        for name, key in TABLE_KEYS.items() if key in info)
    command = " ".join(row.options) or "(stages 1-8)"
    return [f"`{command}` (`{row.decode}`)",
            f"{scores['CAPI-SDRi']['mean']:.3f}",
            f"{scores['label_metrics']['accuracy_mix']:.1f}",
            f"{scores['label_metrics']['accuracy_src']:.1f}",
            f"{tag['valid_loss']:.3f} / {100 * tag.get('valid_acc_mix', float('nan')):.1f} % (epoch {tag['epoch']})",
            f"{sep['valid_loss']:.4f} (epoch {sep['epoch']})",
            fit]


@cli_main
def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, required=True, help="scratch folder (the recipe copy goes to WORK/s5)")
    p.add_argument("--nj", type=validate.positive_int, default=2, help="run.sh --nj")
    args = p.parse_args(argv)
    s5 = recipe_copy(args.work.resolve())
    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True).stdout.strip() or "unknown"      # the code the runs start with
    seconds = [run_sh(s5, row.options, args.nj) for row in ROWS]
    print(f"\nMini-run figures at commit {revision} (run.sh {' '.join(BASE)} + the row's options; "
          f"{os.cpu_count()} CPUs; {sum(seconds) / 60:.1f} min in all)\n")
    print("| options | CAPI-SDRi (dB) | Acc. mixture (%) | Acc. source (%) | tagger valid loss / acc. mixture "
          "(best epoch) | separator valid loss (best epoch) | calibration fit on valid (in-sample) |")
    print("|---|---|---|---|---|---|---|")
    for row in ROWS:
        print("| " + " | ".join(row_cells(s5, row)) + " |")


if __name__ == "__main__":
    main()
