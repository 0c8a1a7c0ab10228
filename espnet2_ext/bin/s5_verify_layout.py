"""Check the official corpus layout and report every problem found.

    python -m espnet2_ext.bin.s5_verify_layout --dev_set data/dev_set \
        [--eval_set data/eval_set] [--m2d_dir checkpoint/<M2D folder> | --checkpoint_dir checkpoint]
        [--require_external false]

Prints what was checked and one line per problem; exits 0 when the layout is fine and 2
(``ERROR: ...``) when anything is missing or malformed.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Optional, Sequence

from espnet2_ext.corpus.layout import check_layout
from espnet2_ext.errors import cli_main
from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.s5.official import M2D_FOLDER, M2D_WEIGHTS

str2bool = quiet_import("espnet2.utils.types").str2bool


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dev_set", type=Path, default=None, help="the dev_set folder")
    p.add_argument("--eval_set", type=Path, default=None, help="the eval_set folder")
    p.add_argument("--m2d_dir", type=Path, default=None,
                   help=f"folder holding the M2D weight file {M2D_WEIGHTS}")
    p.add_argument("--checkpoint_dir", type=Path, default=None,
                   help="shortcut for --m2d_dir CHECKPOINT_DIR/<official M2D folder>")
    p.add_argument("--require_external", type=str2bool, default=True,
                   help="require interference/{train,valid} (false before stage 2)")
    p.add_argument("--progress", type=str2bool, default=True, help="progress bars")
    return p


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(message)s")
    args = get_parser().parse_args(argv)
    if args.checkpoint_dir is not None and args.m2d_dir is None:
        args.m2d_dir = args.checkpoint_dir / M2D_FOLDER
    print(check_layout(args.dev_set, args.eval_set, args.m2d_dir, args.require_external,
                       args.progress))


if __name__ == "__main__":
    main()
