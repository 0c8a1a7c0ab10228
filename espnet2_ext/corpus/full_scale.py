"""A full-scale synthetic corpus in the official layout, for scale tests of the training data path.

Same files as the mini corpus (:mod:`espnet2_ext.corpus.mini.layout_jobs`: cheap synthetic
class sounds, filtered noise, simulated FOA rooms), but with realistic counts and lengths.
At ``scale`` 1 (the defaults of :class:`FullScaleConfig`)::

    sound_event   18 classes x 10 recordings x (16 train, 2 valid) clips = 2,880 + 360
    interference  the 94 Semantic Hearing classes x (20 train, 3 valid)  = 1,880 + 282
    clips         1-12 s (uniform), mono 32 kHz PCM16
    noise         (48 train, 8 valid) files of 60 s, 4-ch PCM16
    room_ir       (8 train, 2 valid) SOFA rooms x 108 positions x 4 ch x 174,763 taps (float64,
                  604 MB each, like the official files)
    fixed sets    valid metadata 200, dev test 32, eval 16 soundscapes (10 s)

about 9.3 GB in all. ``scale`` multiplies the counts of clips per recording and per
interference class, of noise files, rooms and fixed-set scenes (each at least 1); lengths
stay. No M2D weights: the corpus is for the data path, not for training a tagger.

The corpus is built in a hidden sibling folder and renamed into place (nothing half-written
under the final name); ``full_corpus.json`` (the configuration) is written last.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Tuple

from espnet2_ext.corpus.layout import INTERFERENCE_CLASSES
from espnet2_ext.corpus.mini.layout_jobs import SOFA_SAMPLE_BYTES, run_jobs, source_jobs, write_skeleton
from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import atomic_dir, write_json
from espnet2_ext.s5.official import CLASSES, N_CHANNELS, SAMPLE_RATE

log = logging.getLogger(__name__)

STAMP = "full_corpus.json"
STAMP_VERSION = 1
SCENE_SECONDS = 10.0
DISK_MARGIN = 1.1               # keep 10 % of the estimate free besides the corpus
OFFICIAL_N_POSITIONS, OFFICIAL_RIR_LEN = 108, 174763


def _scaled(n: int, scale: float) -> int:
    return max(1, int(round(n * scale)))


@dataclass
class FullScaleConfig:
    """Counts and lengths of the full-scale corpus (attributes of ``layout_jobs.SourceSizes``)."""

    name_prefix: ClassVar[str] = "full"
    seed: int = 0
    subfolders_per_class: int = 10
    files_per_subfolder: Tuple[int, int] = (16, 2)
    clip_seconds: Tuple[float, float] = (1.0, 12.0)
    interference_classes: Tuple[str, ...] = tuple(INTERFERENCE_CLASSES)
    interference_files: Tuple[int, int] = (20, 3)
    noise_files: Tuple[int, int] = (48, 8)
    noise_seconds: float = 60.0
    rooms: Tuple[int, int] = (8, 2)
    n_positions: int = OFFICIAL_N_POSITIONS
    rir_len: int = OFFICIAL_RIR_LEN
    n_valid: int = 200
    n_test: int = 32
    n_eval: int = 16

    @classmethod
    def at_scale(cls, scale: float, **overrides) -> "FullScaleConfig":
        """The defaults with every count multiplied by ``scale`` (at least 1), then ``overrides``."""
        if not (math.isfinite(scale) and scale > 0):
            raise S5InputError(f"--scale {scale}: must be a finite number > 0 (1 = the full-scale defaults)")
        base = cls()
        counts = {key: tuple(_scaled(n, scale) for n in getattr(base, key))
                  for key in ("files_per_subfolder", "interference_files", "noise_files", "rooms")}
        counts.update({key: _scaled(getattr(base, key), scale) for key in ("n_valid", "n_test", "n_eval")})
        counts.update(overrides)
        return cls(**counts)

    def __post_init__(self):
        self.files_per_subfolder, self.interference_files = tuple(self.files_per_subfolder), tuple(
            self.interference_files)
        self.noise_files, self.rooms = tuple(self.noise_files), tuple(self.rooms)
        self.clip_seconds, self.interference_classes = tuple(self.clip_seconds), tuple(self.interference_classes)
        problems = []
        if self.subfolders_per_class < 3:
            problems.append("subfolders_per_class must be >= 3 (same-class duplicates need 3 recordings)")
        for key in ("files_per_subfolder", "interference_files", "noise_files", "rooms"):
            if min(getattr(self, key)) < 1:
                problems.append(f"{key} {getattr(self, key)}: every split needs >= 1")
        if min(self.n_positions, self.rir_len, self.n_valid, self.n_test) < 1 or self.n_eval < 0:
            problems.append("n_positions, rir_len, n_valid and n_test must be >= 1, n_eval >= 0")
        lo, hi = self.clip_seconds
        if not 0 < lo <= hi <= SCENE_SECONDS * 3:
            problems.append(f"clip_seconds {self.clip_seconds}: need 0 < min <= max <= {SCENE_SECONDS * 3:g}")
        if self.noise_seconds < 1.0:
            problems.append(f"noise_seconds {self.noise_seconds}: the layout check needs >= 1 s")
        if not self.interference_classes:
            problems.append("interference_classes is empty")
        if problems:
            raise S5InputError("full-scale corpus: " + "; ".join(problems))


def estimate_bytes(cfg: FullScaleConfig) -> int:
    """Expected bytes of the source folders and the 10 s fixed-set soundscapes (test: 3 targets);
    from the counts alone (mean clip length), so it is instant at any scale."""
    wav = 2 * SAMPLE_RATE                                      # PCM16 bytes per second and channel
    clips = (len(CLASSES) * cfg.subfolders_per_class * sum(cfg.files_per_subfolder)
             + len(cfg.interference_classes) * sum(cfg.interference_files))
    sources = clips * wav * sum(cfg.clip_seconds) / 2 + sum(cfg.noise_files) * wav * N_CHANNELS * cfg.noise_seconds
    rooms = sum(cfg.rooms) * SOFA_SAMPLE_BYTES * cfg.n_positions * N_CHANNELS * cfg.rir_len
    fixed = wav * SCENE_SECONDS * (N_CHANNELS * (cfg.n_test + cfg.n_eval) + 3 * cfg.n_test)
    return int(sources + rooms + fixed)


def describe(cfg: FullScaleConfig) -> str:
    """One line: the counts of each folder (train + valid) and the size estimate."""
    events = len(CLASSES) * cfg.subfolders_per_class * sum(cfg.files_per_subfolder)
    interference = len(cfg.interference_classes) * sum(cfg.interference_files)
    return (f"{events} target clips, {interference} interference clips ({len(cfg.interference_classes)} classes), "
            f"{sum(cfg.noise_files)} noise files of {cfg.noise_seconds:g} s, {sum(cfg.rooms)} rooms x "
            f"{cfg.n_positions} positions x {cfg.rir_len} taps; about {estimate_bytes(cfg) / 1e9:.2f} GB")


def check_disk_space(outdir: Path, cfg: FullScaleConfig) -> int:
    """The size estimate; raises S5InputError if the disk of ``outdir`` cannot hold it."""
    need = estimate_bytes(cfg)
    folder = next(p for p in (outdir, *outdir.parents) if p.exists())
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    if need * DISK_MARGIN > free:
        raise S5InputError(f"--outdir {outdir}: the corpus needs about {need / 1e9:.1f} GB, {folder} has "
                           f"{free / 1e9:.1f} GB free; lower --scale (or --rooms / --rir_len) or free space")
    return need


def is_built(outdir: Path) -> bool:
    return (Path(outdir) / STAMP).is_file()


def build_full_corpus(outdir: Path, cfg: FullScaleConfig, overwrite: bool = False,
                      progress: bool = True) -> Path:
    """Write the corpus to ``outdir`` (as a unit: see the module docstring); return ``outdir``.

    An existing non-empty ``outdir`` is replaced only with ``overwrite``.
    """
    outdir = Path(outdir)
    if outdir.exists() and (not outdir.is_dir() or any(outdir.iterdir())) and not overwrite:
        raise S5InputError(f"--outdir {outdir} exists and is not empty; give --overwrite true to replace it, "
                           f"or another --outdir")
    need = check_disk_space(outdir, cfg)
    log.info("full-scale corpus (seed %d) -> %s: about %.1f GB", cfg.seed, outdir, need / 1e9)
    from espnet2_ext.synth.fixed_sets import make_fixed_sets   # torch and the synthesizer: after the checks

    if outdir.exists() and not outdir.is_dir():
        outdir.unlink()
    with atomic_dir(outdir, keep=()) as tmp:
        run_jobs(tmp / "dev_set", source_jobs(cfg), progress=progress)
        write_skeleton(tmp, [], [])
        make_fixed_sets(tmp / "dev_set", tmp / "eval_set", n_valid=cfg.n_valid, n_test=cfg.n_test,
                        n_eval=cfg.n_eval, seed=cfg.seed, duration=SCENE_SECONDS)
        write_json(tmp / STAMP, {"version": STAMP_VERSION, "config": dataclasses.asdict(cfg)})
    return outdir


def remove_corpus(outdir: Path) -> None:
    """Delete a corpus this module built (refuses any other folder)."""
    if not is_built(outdir):
        raise S5InputError(f"{outdir} holds no {STAMP}: not a full-scale corpus, not deleted")
    shutil.rmtree(outdir)
