#!/usr/bin/env python3
"""Build the mini corpus (official layout, synthetic sounds) into OUTDIR.

    local/make_mini_corpus.py --outdir mini/corpus [--seed 0] [--realistic]
        [--n_valid 12] [--n_test 8] [--n_eval 6]

Writes OUTDIR/{dev_set,eval_set,checkpoint,external} and OUTDIR/mini_corpus.json;
see espnet2_ext/corpus/mini_corpus.py. The same seed gives byte-identical files.
--realistic: official-length RIRs (174,763 taps) and clips of 2-12 s (synthesis benchmark).
"""
import argparse
import logging
import time
from pathlib import Path

from espnet2_ext.corpus.layout import M2D_FOLDER, format_report, verify_layout
from espnet2_ext.corpus.mini_corpus import MiniCorpusConfig, build_mini_corpus
from espnet2_ext.errors import S5InputError, cli_main


@cli_main
def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(message)s")
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--outdir", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--realistic", action="store_true",
                   help="official RIR length and clips up to 12 s (slower, larger)")
    d = MiniCorpusConfig()
    p.add_argument("--n_valid", type=int, default=d.n_valid, help="validation scenes")
    p.add_argument("--n_test", type=int, default=d.n_test, help="dev test soundscapes")
    p.add_argument("--n_eval", type=int, default=d.n_eval, help="eval soundscapes")
    p.add_argument("--scene_seconds", type=float, default=d.scene_seconds,
                   help="length of the valid/test/eval soundscapes (official corpus: 10 s)")
    p.add_argument("--n_positions", type=int, default=d.n_positions,
                   help="source positions per SOFA file")
    args = p.parse_args()
    cfg = MiniCorpusConfig(seed=args.seed, realistic=args.realistic, n_valid=args.n_valid,
                           n_test=args.n_test, n_eval=args.n_eval, n_positions=args.n_positions,
                           scene_seconds=args.scene_seconds)
    start = time.time()
    out = build_mini_corpus(args.outdir, cfg)
    report = verify_layout(out / "dev_set", out / "eval_set", out / "checkpoint" / M2D_FOLDER)
    text = format_report(report, [str(out)])
    if not report.ok:
        raise S5InputError(f"the mini corpus fails the layout check\n{text}")
    print(text)
    logging.info("mini corpus built in %s (%.1f s)", out, time.time() - start)


if __name__ == "__main__":
    main()
