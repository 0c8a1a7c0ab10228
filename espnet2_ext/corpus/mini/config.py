"""Sizes of the mini corpus and the per-item random generators (a seed gives identical bytes)."""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import ClassVar, Tuple

import numpy as np


@dataclass
class MiniCorpusConfig:
    """Sizes of the mini corpus. The defaults build in well under a minute on 2 cores."""

    name_prefix: ClassVar[str] = "mini"     # mini-noise_*, mini-room_* (not part of the stamp)
    seed: int = 0
    realistic: bool = False            # long RIRs (174,763 taps) and clips up to 12 s
    subfolders_per_class: int = 3      # >= 3: same-class triples need 3 "recordings"
    files_per_subfolder: Tuple[int, int] = (2, 1)      # (train, valid)
    clip_seconds: Tuple[float, float] = (0.5, 2.5)     # realistic: (2.0, 12.0)
    interference_classes: Tuple[str, ...] = (
        "Air conditioning", "Crack", "Engine", "Zipper (clothing)")
    interference_files: Tuple[int, int] = (2, 1)       # per class (train, valid)
    noise_files: Tuple[int, int] = (3, 2)
    noise_seconds: float = 5.0         # realistic: 12.0
    rooms: Tuple[int, int] = (2, 1)
    n_positions: int = 16
    rir_len: int = 4096                # realistic: 174,763 (the official length)
    n_valid: int = 16
    n_test: int = 8
    n_eval: int = 6
    scene_seconds: float = 4.0         # valid/test/eval soundscapes (official: 10 s; realistic: 10)
    m2d_dims: Tuple[int, int, int] = (64, 2, 2)        # embed_dim, depth, num_heads
    fixed_sets: bool = True            # make valid metadata + test/eval soundscapes

    @classmethod
    def small(cls, seed: int = 0, **overrides) -> "MiniCorpusConfig":
        """A reduced corpus (same code paths, ~10 MB, a few seconds) for tests."""
        sizes = dict(files_per_subfolder=(1, 1), noise_files=(1, 1), rooms=(1, 1),
                     n_positions=6, rir_len=1024, interference_files=(1, 1), n_valid=2,
                     n_test=1, n_eval=1, clip_seconds=(0.3, 0.8), noise_seconds=2.0,
                     scene_seconds=4.0)
        sizes.update(overrides)
        return cls(seed=seed, **sizes)

    def __post_init__(self):
        if self.realistic:
            self.clip_seconds, self.noise_seconds, self.rir_len = (2.0, 12.0), 12.0, 174763
            self.scene_seconds = 10.0
        if self.subfolders_per_class < 1 or self.n_positions < 1:
            raise ValueError("subfolders_per_class and n_positions must be >= 1")


def item_rng(seed: int, *tags: str) -> np.random.Generator:
    """A generator that depends only on the seed and the item's name (order-free)."""
    return np.random.default_rng([seed] + [zlib.crc32(t.encode()) for t in tags])
