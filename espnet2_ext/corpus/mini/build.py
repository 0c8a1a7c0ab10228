"""Build the mini corpus: the corpus parts, the tiny M2D file, the fixed sets, the stamp."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import zlib
from pathlib import Path
from typing import Dict, Sequence, Tuple

from espnet2_ext.corpus.layout import SPLITS
from espnet2_ext.corpus.mini.config import MiniCorpusConfig, item_rng
from espnet2_ext.corpus.mini.external import write_external_tree
from espnet2_ext.corpus.mini.rooms import make_room_irs
from espnet2_ext.corpus.mini.sounds import CLASS_TIMBRES, clip_length, make_noise, random_timbre, synth_sound
from espnet2_ext.fileio import write_json, write_pcm16
from espnet2_ext.s5.official import M2D_FOLDER, M2D_WEIGHTS, SAMPLE_RATE

log = logging.getLogger(__name__)

STAMP = "mini_corpus.json"
STAMP_VERSION = 1


def _split_count(pair: Tuple[int, int], split: str) -> int:
    return pair[SPLITS.index(split)]


def write_sound_events(dev: Path, cfg: MiniCorpusConfig) -> None:
    """sound_event/{train,valid}/<Class>/<Class>_srcK/<...>.wav, mono 32 kHz PCM16."""
    for split in SPLITS:
        for cls, timbre in CLASS_TIMBRES.items():
            for k in range(cfg.subfolders_per_class):
                sub = f"{cls}_{split}_src{k}"
                pitch = item_rng(cfg.seed, "pitch", sub).uniform(0.9, 1.12)
                for i in range(_split_count(cfg.files_per_subfolder, split)):
                    name = f"{sub}_{i:02d}"
                    rng = item_rng(cfg.seed, "event", name)
                    clip = synth_sound(timbre, clip_length(rng, cfg.clip_seconds), rng, pitch)
                    write_pcm16(dev / "sound_event" / split / cls / sub / f"{name}.wav", clip)


def write_interference(dev: Path, cfg: MiniCorpusConfig) -> None:
    """interference/{train,valid}/<FSD50K class>/*.wav for a few of the 94 classes."""
    for cls in cfg.interference_classes:
        timbre = random_timbre(item_rng(cfg.seed, "timbre", cls))
        for split in SPLITS:
            for i in range(_split_count(cfg.interference_files, split)):
                name = f"int_{split}_{zlib.crc32(cls.encode()):08x}_{i:02d}"
                rng = item_rng(cfg.seed, "interference", cls, name)
                clip = synth_sound(timbre, clip_length(rng, cfg.clip_seconds), rng)
                write_pcm16(dev / "interference" / split / cls / f"{name}.wav", clip)


def write_noise(dev: Path, cfg: MiniCorpusConfig) -> None:
    """noise/{train,valid}/mini-noise_XX_BG.wav, 4 channels, plain PCM."""
    for split in SPLITS:
        for i in range(_split_count(cfg.noise_files, split)):
            name = f"mini-noise_{split}_{i:02d}_BG"
            noise = make_noise(item_rng(cfg.seed, "noise", name), int(cfg.noise_seconds * SAMPLE_RATE))
            write_pcm16(dev / "noise" / split / f"{name}.wav", noise)


def write_rooms(dev: Path, cfg: MiniCorpusConfig) -> None:
    """room_ir/{train,valid}/mini-room_XX.sofa, 4 receivers, n_positions positions."""
    from espnet2_ext.synth.sofa import write_sofa

    for split in SPLITS:
        for i in range(_split_count(cfg.rooms, split)):
            name = f"mini-room_{split}_{i:02d}"
            irs, pos = make_room_irs(item_rng(cfg.seed, "room", name), cfg.n_positions, cfg.rir_len)
            write_sofa(dev / "room_ir" / split / f"{name}.sofa", irs, SAMPLE_RATE, pos)


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
    dev = outdir / "dev_set"
    write_sound_events(dev, cfg)
    write_interference(dev, cfg)
    write_noise(dev, cfg)
    write_rooms(dev, cfg)
    fsd_rows, ears_rows = write_external_tree(outdir / "external", cfg.seed)
    write_json(dev / "config" / "FSD50K_config.json", fsd_rows)
    write_json(dev / "config" / "EARS_config.json", ears_rows)
    for folder in ("metadata/valid", "synthesized/test/soundscape",
                   "synthesized/test/oracle_target"):
        (dev / folder).mkdir(parents=True, exist_ok=True)
    (outdir / "eval_set" / "synthesized" / "eval" / "soundscape").mkdir(parents=True,
                                                                        exist_ok=True)


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
