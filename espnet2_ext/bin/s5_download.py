"""Stage 1: get the corpus and the M2D weights, link them into the recipe, check the layout.

Official corpus (downloads, md5 checks, resumable; see espnet2_ext/corpus/download.py)::

    python -m espnet2_ext.bin.s5_download --corpus_dir downloads --data_dir data \
        --checkpoint_dir checkpoint [--download_baseline_ckpt true] [--local_data_dir DIR]

Mini corpus (built here, nothing downloaded)::

    python -m espnet2_ext.bin.s5_download --mini true --mini_seed 0 --corpus_dir mini/corpus \
        [--mini_realistic true]

This is the one entry point that builds the mini corpus (espnet2_ext/corpus/mini/).

Afterwards ``DATA_DIR/dev_set``, ``DATA_DIR/eval_set`` and ``CHECKPOINT_DIR/<M2D folder>``
exist (links into the corpus), and the layout check has passed (interference may still be
missing: stage 2 adds it).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Optional, Sequence

from espnet2_ext import validate
from espnet2_ext.corpus import download as dl
from espnet2_ext.corpus.layout import check_layout, verify_layout
from espnet2_ext.corpus.mini import MiniCorpusConfig, build_mini_corpus, is_built
from espnet2_ext.errors import cli_main
from espnet2_ext.output_paths import check_output_dir
from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.s5.official import M2D_FOLDER

str2bool = quiet_import("espnet2.utils.types").str2bool
log = logging.getLogger("s5_download")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus_dir", type=Path, required=True,
                   help="where archives are downloaded and unpacked (or the mini corpus built)")
    p.add_argument("--data_dir", type=Path, default=Path("data"),
                   help="gets the links dev_set and eval_set")
    p.add_argument("--checkpoint_dir", type=Path, default=Path("checkpoint"),
                   help="gets the M2D folder (and the baseline checkpoints)")
    p.add_argument("--local_data_dir", type=str, default="",
                   help="link this already extracted corpus (holding dev_set/, eval_set/) "
                        "instead of downloading it")
    p.add_argument("--download_baseline_ckpt", type=str2bool, default=False,
                   help="also fetch the official baseline checkpoints (release v1.0.0)")
    p.add_argument("--mini", type=str2bool, default=False, help="build the mini corpus")
    p.add_argument("--mini_seed", type=int, default=0, help="seed of the mini corpus")
    p.add_argument("--mini_realistic", type=str2bool, default=False,
                   help="mini corpus with official-length RIRs (174,763 taps), 2-12 s clips, 10 s "
                        "scenes (synthesis benchmarks; slower, larger)")
    p.add_argument("--zenodo_url", type=str, default=None,
                   help="Zenodo base URL (default: $DCASE26T4_ZENODO_URL or https://zenodo.org)")
    p.add_argument("--github_url", type=str, default=None,
                   help="GitHub base URL (default: $DCASE26T4_GITHUB_URL or https://github.com)")
    p.add_argument("--checksum_table", type=Path, default=None,
                   help="checksum table (md5:/sha256: lines, see local/checksums.txt): Zenodo files when "
                        "the API cannot be reached, GitHub release assets")
    p.add_argument("--retries", type=validate.nonnegative_int, default=3, help="retries per file (resuming)")
    p.add_argument("--retry_wait", type=validate.nonnegative_float, default=2.0,
                   help="seconds before the first retry (doubles each time)")
    p.add_argument("--timeout", type=validate.positive_float, default=60.0, help="socket timeout in seconds")
    return p


def prepare_mini(corpus_dir: Path, data_dir: Path, checkpoint_dir: Path, seed: int,
                 realistic: bool = False) -> None:
    """Build the mini corpus unless a verified build with this configuration exists; link it."""
    cfg = MiniCorpusConfig(seed=seed, realistic=realistic)
    m2d = corpus_dir / "checkpoint" / M2D_FOLDER
    if is_built(corpus_dir, cfg) and verify_layout(corpus_dir / "dev_set", corpus_dir /
                                                   "eval_set", m2d, require_external=False).ok:
        log.info("mini corpus (seed %d) already built in %s", seed, corpus_dir)
    else:
        log.info("building the mini corpus (seed %d) in %s", seed, corpus_dir)
        build_mini_corpus(corpus_dir, cfg)
    dl.link(corpus_dir / "dev_set", data_dir / "dev_set")
    dl.link(corpus_dir / "eval_set", data_dir / "eval_set")
    dl.link(m2d, checkpoint_dir / M2D_FOLDER)


def prepare_official(args: argparse.Namespace) -> None:
    """Download (or take from --local_data_dir), unpack and link the corpus; fetch M2D."""
    defaults = dl.Sources()
    sources = dl.Sources(zenodo=(args.zenodo_url or defaults.zenodo).rstrip("/"),
                         github=(args.github_url or defaults.github).rstrip("/"))
    fetch_args = dict(retries=args.retries, backoff=args.retry_wait, timeout=args.timeout)
    table = dl.read_checksum_table(args.checksum_table)
    if args.local_data_dir:
        dev, eval_set = dl.find_local_sets(Path(args.local_data_dir))
        if eval_set is None:
            log.warning("no eval_set found in %s; data/eval_set is not linked (stage 7 needs "
                        "it for the evaluation set)", args.local_data_dir)
    else:
        dev = dl.ensure_archive(dl.DEV_ARCHIVE, args.corpus_dir, sources, table, **fetch_args)
        eval_set = dl.ensure_archive(dl.EVAL_ARCHIVE, args.corpus_dir, sources, table,
                                     **fetch_args)
    dl.link(dev, args.data_dir / "dev_set")
    if eval_set is not None:
        dl.link(eval_set, args.data_dir / "eval_set")
    dl.ensure_m2d(args.checkpoint_dir, sources, table, **fetch_args)
    if args.download_baseline_ckpt:
        dl.ensure_baseline_checkpoints(args.checkpoint_dir, sources, table, **fetch_args)


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(message)s")
    args = get_parser().parse_args(argv)
    for option in ("corpus_dir", "data_dir", "checkpoint_dir"):
        check_output_dir(getattr(args, option), f"--{option}")
    if args.mini:
        prepare_mini(args.corpus_dir, args.data_dir, args.checkpoint_dir, args.mini_seed,
                     args.mini_realistic)
    else:
        prepare_official(args)
    eval_set = args.data_dir / "eval_set"
    print(check_layout(args.data_dir / "dev_set", eval_set if eval_set.exists() else None,
                       args.checkpoint_dir / M2D_FOLDER, require_external=False))


if __name__ == "__main__":
    main()
