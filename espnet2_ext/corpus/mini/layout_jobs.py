"""The files of a synthetic corpus in the official layout (shared by the mini and full-scale corpora).

The four source folders of ``dev_set`` (see :mod:`espnet2_ext.corpus.layout`)::

    sound_event/{train,valid}/<18 classes>/<Class>_<split>_srcK/<...>.wav   mono PCM16
    interference/{train,valid}/<class>/int_<split>_<crc>_NN.wav          mono PCM16
    noise/{train,valid}/<prefix>-noise_<split>_NN_BG.wav                 4-ch plain PCM16
    room_ir/{train,valid}/<prefix>-room_<split>_NN.sofa                  4 receivers, float64

are planned as a list of :class:`FileJob` (path under ``dev_set``, the bytes it will take,
a picklable function that writes it), so a builder can check the disk space first and show
a progress bar. Every file is drawn from a generator seeded by (seed, its name), so a seed
gives byte-identical files whatever the order of the jobs. Sizes come from any object with
the attributes of :class:`SourceSizes` (:class:`~espnet2_ext.corpus.mini.MiniCorpusConfig`,
:class:`~espnet2_ext.corpus.full_scale.FullScaleConfig`).

:func:`write_skeleton` adds the rest of the tree the layout check needs besides the fixed
sets: the pick-up configs and the empty metadata / test / eval folders.
"""
from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Protocol, Sequence, Tuple

from tqdm import tqdm

from espnet2_ext.corpus.layout import EVAL_SOUNDSCAPE_DIR, SPLITS
from espnet2_ext.corpus.mini.config import item_rng
from espnet2_ext.corpus.mini.rooms import make_room_irs
from espnet2_ext.corpus.mini.sounds import CLASS_TIMBRES, Timbre, clip_length, make_noise, random_timbre, synth_sound
from espnet2_ext.fileio import write_json, write_pcm16
from espnet2_ext.s5.official import N_CHANNELS, SAMPLE_RATE

WAV_HEADER_BYTES = 44
PCM16_BYTES = 2
SOFA_SAMPLE_BYTES = 8          # write_sofa stores float64, like the official files


class SourceSizes(Protocol):
    """What a corpus configuration gives the writers; pairs are (train, valid)."""

    seed: int
    name_prefix: str                      # "mini" -> mini-noise_train_00_BG.wav, mini-room_train_00.sofa
    subfolders_per_class: int             # "recordings" per target class (same-class duplicates need >= 3)
    files_per_subfolder: Tuple[int, int]
    clip_seconds: Tuple[float, float]     # uniform clip length (events and interference)
    interference_classes: Sequence[str]
    interference_files: Tuple[int, int]  # per interference class
    noise_files: Tuple[int, int]
    noise_seconds: float
    rooms: Tuple[int, int]
    n_positions: int
    rir_len: int


@dataclass(frozen=True)
class FileJob:
    """One file of the corpus: ``rel_path`` under dev_set, its size, ``write(path)`` makes it."""

    rel_path: str
    nbytes: int
    write: Callable[[Path], None]


def split_count(pair: Tuple[int, int], split: str) -> int:
    return pair[SPLITS.index(split)]


# ----------------------------------------------------------------------------- file writers
def _write_clip(path: Path, timbre: Timbre, seed: int, tags: Tuple[str, ...],
                clip_seconds: Tuple[float, float], pitch: float) -> None:
    rng = item_rng(seed, *tags)
    write_pcm16(path, synth_sound(timbre, clip_length(rng, clip_seconds), rng, pitch))


def _write_noise(path: Path, seed: int, name: str, seconds: float) -> None:
    write_pcm16(path, make_noise(item_rng(seed, "noise", name), int(seconds * SAMPLE_RATE)))


def _write_room(path: Path, seed: int, name: str, n_positions: int, rir_len: int) -> None:
    from espnet2_ext.synth.sofa import write_sofa   # netCDF4 only when rooms are written

    irs, pos = make_room_irs(item_rng(seed, "room", name), n_positions, rir_len)
    write_sofa(path, irs, SAMPLE_RATE, pos)


def _clip_job(rel_path: str, timbre: Timbre, sizes: SourceSizes, tags: Tuple[str, ...],
              pitch: float = 1.0) -> FileJob:
    frames = clip_length(item_rng(sizes.seed, *tags), sizes.clip_seconds)   # the write's first draw
    write = functools.partial(_write_clip, timbre=timbre, seed=sizes.seed, tags=tags,
                              clip_seconds=tuple(sizes.clip_seconds), pitch=pitch)
    return FileJob(rel_path, WAV_HEADER_BYTES + PCM16_BYTES * frames, write)


# ----------------------------------------------------------------------------- plans
def sound_event_jobs(sizes: SourceSizes) -> List[FileJob]:
    """sound_event/{train,valid}/<Class>/<Class>_<split>_srcK/<Class>_<split>_srcK_NN.wav."""
    jobs = []
    for split in SPLITS:
        for cls, timbre in CLASS_TIMBRES.items():
            for k in range(sizes.subfolders_per_class):
                sub = f"{cls}_{split}_src{k}"
                pitch = float(item_rng(sizes.seed, "pitch", sub).uniform(0.9, 1.12))
                for i in range(split_count(sizes.files_per_subfolder, split)):
                    name = f"{sub}_{i:02d}"
                    jobs.append(_clip_job(f"sound_event/{split}/{cls}/{sub}/{name}.wav", timbre, sizes,
                                          ("event", name), pitch))
    return jobs


def interference_jobs(sizes: SourceSizes) -> List[FileJob]:
    """interference/{train,valid}/<class>/int_<split>_<crc32 of class>_NN.wav."""
    jobs = []
    for cls in sizes.interference_classes:
        timbre = random_timbre(item_rng(sizes.seed, "timbre", cls))
        for split in SPLITS:
            for i in range(split_count(sizes.interference_files, split)):
                name = f"int_{split}_{zlib.crc32(cls.encode()):08x}_{i:02d}"
                jobs.append(_clip_job(f"interference/{split}/{cls}/{name}.wav", timbre, sizes,
                                      ("interference", cls, name)))
    return jobs


def noise_jobs(sizes: SourceSizes) -> List[FileJob]:
    """noise/{train,valid}/<prefix>-noise_<split>_NN_BG.wav (4 channels)."""
    frames = int(sizes.noise_seconds * SAMPLE_RATE)
    jobs = []
    for split in SPLITS:
        for i in range(split_count(sizes.noise_files, split)):
            name = f"{sizes.name_prefix}-noise_{split}_{i:02d}_BG"
            jobs.append(FileJob(f"noise/{split}/{name}.wav", WAV_HEADER_BYTES + PCM16_BYTES * N_CHANNELS * frames,
                                functools.partial(_write_noise, seed=sizes.seed, name=name,
                                                  seconds=sizes.noise_seconds)))
    return jobs


def room_jobs(sizes: SourceSizes) -> List[FileJob]:
    """room_ir/{train,valid}/<prefix>-room_<split>_NN.sofa ([n_positions, 4, rir_len])."""
    nbytes = SOFA_SAMPLE_BYTES * sizes.n_positions * N_CHANNELS * sizes.rir_len
    jobs = []
    for split in SPLITS:
        for i in range(split_count(sizes.rooms, split)):
            name = f"{sizes.name_prefix}-room_{split}_{i:02d}"
            jobs.append(FileJob(f"room_ir/{split}/{name}.sofa", nbytes,
                                functools.partial(_write_room, seed=sizes.seed, name=name,
                                                  n_positions=sizes.n_positions, rir_len=sizes.rir_len)))
    return jobs


def source_jobs(sizes: SourceSizes) -> List[FileJob]:
    """Every file of the four source folders (events, interference, noise, rooms)."""
    return sound_event_jobs(sizes) + interference_jobs(sizes) + noise_jobs(sizes) + room_jobs(sizes)


def run_jobs(dev: Path, jobs: Sequence[FileJob], progress: bool = False) -> None:
    """Write every job under ``dev`` (each file atomically), with an optional byte progress bar."""
    with tqdm(total=sum(j.nbytes for j in jobs), unit="B", unit_scale=True, desc="corpus files",
              disable=not progress) as bar:
        for job in jobs:
            job.write(Path(dev) / job.rel_path)
            bar.update(job.nbytes)


# ----------------------------------------------------------------------------- the rest of the tree
def write_skeleton(outdir: Path, fsd_rows: List[dict], ears_rows: List[dict]) -> None:
    """The pick-up configs (FSD50K, EARS rows) and the empty folders the fixed sets fill."""
    dev = Path(outdir) / "dev_set"
    write_json(dev / "config" / "FSD50K_config.json", fsd_rows)
    write_json(dev / "config" / "EARS_config.json", ears_rows)
    for folder in ("metadata/valid", "synthesized/test/soundscape", "synthesized/test/oracle_target"):
        (dev / folder).mkdir(parents=True, exist_ok=True)
    (Path(outdir) / "eval_set" / EVAL_SOUNDSCAPE_DIR).mkdir(parents=True, exist_ok=True)
