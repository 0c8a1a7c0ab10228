"""Build the mini corpus: the corpus parts, the tiny M2D file, the fixed sets, the stamp."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Dict, Sequence

from espnet2_ext.corpus.mini.config import MiniCorpusConfig
from espnet2_ext.corpus.mini.external import write_external_tree
from espnet2_ext.corpus.mini.layout_jobs import run_jobs, source_jobs, write_skeleton
from espnet2_ext.fileio import write_json
from espnet2_ext.s5.official import M2D_FOLDER, M2D_WEIGHTS

log = logging.getLogger(__name__)

STAMP = "mini_corpus.json"
STAMP_VERSION = 1


def write_m2d_weights(checkpoint_dir: Path, cfg: MiniCorpusConfig) -> Path:
    """Fabricate a tiny M2D weight file as ``checkpoint_dir/<official folder>/<official file>``.

    The fabricator names its folder after the ViT size; the recipe expects the release
    folder name (same input/patch/rate tokens; our loader reads the ViT size from shapes).
    """
    from espnet2_ext.s5.tagger.m2d_weights import fabricate_m2d_weight_file

    embed_dim, depth, heads = cfg.m2d_dims
    scratch = checkpoint_dir / ".fabricate"
    # No AudioSet head: the official loader then uses *stacked* features ([B, 62, 5*D]),
    # which keep the frequency position of each patch; a tiny random ViT with flat
    # (frequency-averaged) features gives the mini tagger too little to learn from.
    made = fabricate_m2d_weight_file(scratch, embed_dim=embed_dim, depth=depth, num_heads=heads,
                                     seed=cfg.seed, with_head=False)
    path = checkpoint_dir / M2D_FOLDER / M2D_WEIGHTS
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(made, path)
    shutil.rmtree(scratch)
    return path


def write_raw_corpus(outdir: Path, cfg: MiniCorpusConfig) -> None:
    """Everything except the synthesized sets and the M2D file (fast, no synthesizer)."""
    run_jobs(outdir / "dev_set", source_jobs(cfg))
    fsd_rows, ears_rows = write_external_tree(outdir / "external", cfg.seed)
    write_skeleton(outdir, fsd_rows, ears_rows)


def config_to_stamp(cfg: MiniCorpusConfig) -> dict:
    return {"version": STAMP_VERSION, "config": json.loads(json.dumps(dataclasses.asdict(cfg)))}


def is_built(outdir: Path, cfg: MiniCorpusConfig) -> bool:
    """True when ``outdir`` holds a finished build of exactly this configuration."""
    stamp = Path(outdir) / STAMP
    try:
        return json.loads(stamp.read_text()) == config_to_stamp(cfg)
    except (OSError, ValueError):
        return False


def build_mini_corpus(outdir: Path, cfg: MiniCorpusConfig) -> Path:
    """Build the corpus into a temporary sibling folder, then move it to ``outdir``.

    An existing ``outdir`` (another seed or an unfinished build) is replaced.
    """
    outdir = Path(outdir)
    tmp = outdir.parent / f".{outdir.name}.building"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        _build_into(tmp, cfg)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)   # no half-built corpus left behind
        raise
    if outdir.exists() or outdir.is_symlink():
        if outdir.is_symlink() or outdir.is_file():
            outdir.unlink()
        else:
            shutil.rmtree(outdir)
    tmp.rename(outdir)
    return outdir


def _build_into(tmp: Path, cfg: MiniCorpusConfig) -> None:
    log.info("mini corpus: sound events, interference, noise, rooms, external data -> %s", tmp)
    write_raw_corpus(tmp, cfg)
    write_m2d_weights(tmp / "checkpoint", cfg)
    if cfg.fixed_sets:
        from espnet2_ext.synth.fixed_sets import make_fixed_sets

        log.info("mini corpus: %d valid scenes, %d test and %d eval soundscapes",
                 cfg.n_valid, cfg.n_test, cfg.n_eval)
        make_fixed_sets(tmp / "dev_set", tmp / "eval_set", n_valid=cfg.n_valid,
                        n_test=cfg.n_test, n_eval=cfg.n_eval, seed=cfg.seed,
                        duration=cfg.scene_seconds)
    write_json(tmp / STAMP, config_to_stamp(cfg))


def tree_digest(root: Path, exclude: Sequence[str] = ()) -> Dict[str, str]:
    """{relative path: sha256} of every file under ``root`` (for determinism checks)."""
    import hashlib

    out = {}
    for p in sorted(Path(root).rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not any(rel.startswith(e) for e in exclude):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
