"""Generate a full-scale synthetic corpus in the official layout (nothing is downloaded).

    python -m espnet2_ext.bin.s5_full_corpus --outdir /scratch/full_corpus [--scale 1.0] [--seed 0]
        [--rooms 8 2] [--n_positions 108] [--rir_len 174763] [--overwrite false]

Writes OUTDIR/dev_set/{sound_event,interference,noise,room_ir}/{train,valid}, the pick-up
configs, metadata/valid (SpAudSyn scenes), synthesized/test, and OUTDIR/eval_set, then
``full_corpus.json``; the layout check of stage 1 passes on it (``s5_verify_layout --dev_set
OUTDIR/dev_set``). Point a training at it with ``--corpus_root OUTDIR``. At --scale 1: about
5,400 clips, 56 noise files of 60 s and 10 rooms of 108 official-length RIRs, 9.3 GB (see
espnet2_ext/corpus/full_scale.py); --scale multiplies every count. The disk space is checked
first; the folder appears only when complete.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Optional, Sequence

from espnet2_ext import validate
from espnet2_ext.corpus.full_scale import FullScaleConfig, build_full_corpus, describe
from espnet2_ext.errors import cli_main
from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.output_paths import check_output_dir

str2bool = quiet_import("espnet2.utils.types").str2bool
log = logging.getLogger("s5_full_corpus")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--outdir", type=Path, required=True, help="the corpus folder (gets dev_set/, eval_set/)")
    p.add_argument("--scale", type=validate.positive_float, default=1.0,
                   help="multiplies every count of the full-scale defaults (each at least 1)")
    p.add_argument("--seed", type=validate.nonnegative_int, default=0, help="same seed, same bytes")
    p.add_argument("--rooms", type=validate.positive_int, nargs=2, metavar=("TRAIN", "VALID"), default=None,
                   help="SOFA rooms per split (default 8 2, times --scale)")
    p.add_argument("--n_positions", type=validate.positive_int, default=None,
                   help="source positions per room (default 108, as the official rooms)")
    p.add_argument("--rir_len", type=validate.positive_int, default=None,
                   help="RIR taps (default 174763, the official length at 32 kHz)")
    p.add_argument("--clip_seconds", type=validate.positive_float, nargs=2, metavar=("MIN", "MAX"),
                   default=None, help="clip lengths, uniform (default 1 12)")
    p.add_argument("--noise_seconds", type=validate.positive_float, default=None,
                   help="length of each noise file (default 60)")
    p.add_argument("--interference_classes", type=validate.positive_int, default=None,
                   help="use the first N of the 94 interference classes (default all)")
    p.add_argument("--overwrite", type=str2bool, default=False, help="replace a non-empty --outdir")
    p.add_argument("--dry_run", type=str2bool, default=False, help="print the sizes only")
    p.add_argument("--progress", type=str2bool, default=True, help="progress bars")
    return p


def config_from_args(args: argparse.Namespace) -> FullScaleConfig:
    """The scaled defaults with the explicit overrides of the command line."""
    overrides = {key: getattr(args, key) for key in ("rooms", "n_positions", "rir_len", "clip_seconds",
                                                     "noise_seconds") if getattr(args, key) is not None}
    if args.interference_classes is not None:
        overrides["interference_classes"] = FullScaleConfig().interference_classes[:args.interference_classes]
    return FullScaleConfig.at_scale(args.scale, seed=args.seed, **overrides)


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(message)s")
    args = get_parser().parse_args(argv)
    check_output_dir(args.outdir, "--outdir")
    cfg = config_from_args(args)
    log.info("%s", describe(cfg))
    if args.dry_run:
        return
    build_full_corpus(args.outdir, cfg, overwrite=args.overwrite, progress=args.progress)
    log.info("done: %s", args.outdir)


if __name__ == "__main__":
    main()
