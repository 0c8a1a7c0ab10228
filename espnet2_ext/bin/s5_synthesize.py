"""Stage 3: synthesize fixed mixtures and write Kaldi-style data dirs.

Subcommands:
  render      re-synthesize the scenes of a metadata list (valid.json) into
              OUT/soundscape/soundscape_XXXX.wav and OUT/oracle_target/soundscape_XXXX_<slot>_<Label>.wav
              (a contiguous share per job, espnet2_ext.jobs; finished mixtures are skipped).
  datadir     index a soundscape folder (+ optional oracle_target folder) into a data dir:
              wav.scp, labels, spk1..N.scp, soundscape_dir, oracle_target_dir.
  fixed_sets  build the fixed valid metadata / dev test / eval sets of a corpus (see fixed_sets.py).

Examples:
  python -m espnet2_ext.bin.s5_synthesize render --metadata_list data/dev_set/metadata/valid.json \\
      --corpus_root data --out_dir data/valid --job 1 --nj 4
  python -m espnet2_ext.bin.s5_synthesize datadir --soundscape_dir data/dev_set/synthesized/test/soundscape \\
      --oracle_target_dir data/dev_set/synthesized/test/oracle_target --out_dir data/test
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import List, Optional

from espnet2_ext import validate
from espnet2_ext.errors import cli_main
from espnet2_ext.output_paths import check_output_dir
from espnet2_ext.s5.official import N_SLOTS, SAMPLE_RATE
from espnet2_ext.synth.datadir import write_datadir
from espnet2_ext.synth.fixed_sets import make_fixed_sets, render

def get_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="re-synthesize a metadata list (valid.json)")
    r.add_argument("--metadata_list", type=Path, required=True)
    r.add_argument("--corpus_root", type=Path, default=Path("data"),
                   help="folder that 'data/' in the metadata paths maps to (holds dev_set/)")
    r.add_argument("--out_dir", type=Path, required=True)
    r.add_argument("--job", type=validate.positive_int, default=1)
    r.add_argument("--nj", type=validate.positive_int, default=1)
    r.add_argument("--subtype", default="PCM_16", help="WAV subtype (PCM_16 like the official sets, or FLOAT)")
    r.add_argument("--dry_channel", type=validate.channel_index, default=0,
                   help="microphone channel of the dry targets (0..3)")
    d = sub.add_parser("datadir", help="index soundscapes (+ oracle targets) into a data dir")
    d.add_argument("--soundscape_dir", type=Path, required=True)
    d.add_argument("--oracle_target_dir", type=Path, default=None)
    d.add_argument("--out_dir", type=Path, required=True)
    d.add_argument("--n_sources", type=validate.positive_int, default=N_SLOTS)
    f = sub.add_parser("fixed_sets", help="build fixed valid/test/eval sets from a corpus's valid split")
    f.add_argument("--dev_root", type=Path, required=True)
    f.add_argument("--eval_root", type=Path, required=True)
    for key in ("n_valid", "n_test", "n_eval"):
        f.add_argument(f"--{key}", type=validate.nonnegative_int, required=True)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--duration", type=validate.positive_float, default=10.0)
    f.add_argument("--sr", type=validate.positive_int, default=SAMPLE_RATE)
    return ap


@cli_main
def main(argv: Optional[List[str]] = None) -> None:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    if getattr(args, "out_dir", None) is not None:
        check_output_dir(args.out_dir, "--out_dir")
    if args.command == "render":
        render(args.metadata_list, args.corpus_root, args.out_dir, args.job, args.nj, args.subtype,
               args.dry_channel)
    elif args.command == "datadir":
        write_datadir(args.soundscape_dir, args.out_dir, args.oracle_target_dir, args.n_sources)
    else:
        make_fixed_sets(args.dev_root, args.eval_root, args.n_valid, args.n_test, args.n_eval,
                        args.seed, args.duration, args.sr)


if __name__ == "__main__":
    main()
