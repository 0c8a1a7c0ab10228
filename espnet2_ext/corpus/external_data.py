"""External data of the official ``add_data.sh``: Semantic Hearing interference and the
FSD50K / EARS target events of the pick-up lists, with the official clip filters.

Filters (``process_wav`` in the baseline's add_interference.py; baseline_spec §6). A clip is
loaded at its own rate (down-mixed to mono) and rejected, with this status, when:

  * ``remove_low_amplitude``                 its peak is < 0.02
  * ``remove_too_short``                     it is shorter than 0.1 s
  * ``remove_too_short_after_trim``          after stripping leading/trailing exact zeros
                                             it is shorter than 0.1 s
  * ``remove_contain_low_amplitude_segment`` some 10 s window (hop 0.1 s) has peak < 0.02

Kept clips (``selected[_trim][_resampled]``) are zero-trimmed, resampled to 32 kHz (soxr HQ,
like librosa's default) and written as 16-bit PCM. A target that already exists is left
alone (``skipped_exists``), so the step can be re-run after an interruption.

Work is split in shards: job ``j`` of ``nj`` handles items ``j-1, j-1+nj, ...`` of the sorted
plan, so ``run.pl JOB=1:N`` can run it in parallel; :func:`summarize` merges the job reports.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf
from tqdm import tqdm

from espnet2_ext.corpus.layout import INTERFERENCE_CLASSES
from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import atomic_path, read_json, write_json, write_wav
from espnet2_ext.jobs import job_share
from espnet2_ext.resample import soxr_resample
from espnet2_ext.s5.official import SAMPLE_RATE

log = logging.getLogger(__name__)

SKIPPED = "skipped_exists"
PICKUP_KEYS = ("file_name", "t4_label", "convert_path")


@dataclass(frozen=True)
class FilterConfig:
    """The constants of the official add_data.sh."""

    target_sr: int = SAMPLE_RATE
    amp_threshold: float = 0.02
    min_length: float = 0.1     # seconds
    segment: float = 10.0       # seconds
    shift: float = 0.1          # seconds


class Item(NamedTuple):
    """One clip to process: which source set, input file, output file."""

    source: str     # "interference", "FSD50K" or "EARS"
    src: Path
    dst: Path


# --------------------------------------------------------------------------- the filter
def min_window_peak(abs_audio: np.ndarray, window: int, hop: int) -> float:
    """Smallest peak over the windows ``[s, s + window)``, s = 0, hop, ... (inf if none fits).

    Exact and O(n): per-block running maxima from the left and from the right
    (van Herk / Gil-Werman), so hour-long clips are cheap.
    """
    n = len(abs_audio)
    if n < window or window <= 0:
        return float("inf")
    n_blocks = -(-n // window)
    blocks = np.zeros(n_blocks * window, dtype=abs_audio.dtype)
    blocks[:n] = abs_audio
    blocks = blocks.reshape(n_blocks, window)
    from_left = np.maximum.accumulate(blocks, axis=1).ravel()
    from_right = np.maximum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    starts = np.arange(0, n - window + 1, max(hop, 1))
    return float(np.maximum(from_right[starts], from_left[starts + window - 1]).min())


def filter_clip(audio: np.ndarray, sr: int, cfg: FilterConfig = FilterConfig()
                ) -> Tuple[str, Optional[np.ndarray]]:
    """Apply the official filters to a mono clip -> (status, trimmed audio or None)."""
    if audio.size == 0 or np.max(np.abs(audio)) < cfg.amp_threshold:
        return "remove_low_amplitude", None
    original_length = audio.shape[0]
    if original_length < cfg.min_length * sr:
        return "remove_too_short", None
    audio = np.trim_zeros(audio)
    if audio.shape[0] < int(cfg.min_length * sr):
        return "remove_too_short_after_trim", None
    if min_window_peak(np.abs(audio), int(cfg.segment * sr), int(cfg.shift * sr)) \
            < cfg.amp_threshold:
        return "remove_contain_low_amplitude_segment", None
    status = "selected" + ("_trim" if audio.shape[0] != original_length else "")
    return status, audio


def process_wav(src: Path, dst: Path, cfg: FilterConfig = FilterConfig()) -> Dict[str, str]:
    """Filter one clip and, if kept, write it to ``dst`` (atomically). Returns its info row."""
    info = {"src_path": str(src), "dest_path": str(dst), "status": SKIPPED}
    if dst.exists():
        return info
    try:
        audio, sr = sf.read(str(src), dtype="float32", always_2d=True)
    except Exception as e:
        raise S5InputError(f"cannot read external clip {src}: {e}. Re-extract the dataset.") \
            from e
    status, kept = filter_clip(audio.mean(axis=1), sr, cfg)
    if kept is not None:
        if sr != cfg.target_sr:
            kept = soxr_resample(kept, sr, cfg.target_sr)
            status += "_resampled"
        write_wav(dst, kept, cfg.target_sr, subtype="PCM_16")
    info["status"] = status
    return info


# --------------------------------------------------------------------------- the plan
def plan_interference(bg_scaper_fmt: Path, out_root: Path,
                      classes: Sequence[str] = INTERFERENCE_CLASSES) -> List[Item]:
    """``bg_scaper_fmt/{train,val}/<class>/*.wav`` -> ``out_root/{train,valid}/<class>/``."""
    missing = [str(bg_scaper_fmt / split / c) for split in ("train", "val") for c in classes
               if not (bg_scaper_fmt / split / c).is_dir()]
    if missing:
        raise S5InputError(
            f"{len(missing)} interference class folder(s) missing in {bg_scaper_fmt}, e.g. "
            f"{missing[0]}; --semhear_path must be the extracted BinauralCuratedDataset folder "
            f"(holding bg_scaper_fmt/train and bg_scaper_fmt/val with the 94 class folders)")
    items = []
    for split_in, split_out in (("train", "train"), ("val", "valid")):
        for c in classes:
            for src in sorted((bg_scaper_fmt / split_in / c).glob("*.wav")):
                items.append(Item("interference", src, out_root / split_out / c / src.name))
    return items


def read_pickup_list(path: Path) -> List[dict]:
    """Read a pick-up JSON (list of {file_name, t4_label, convert_path})."""
    rows = read_json(path, "pick-up list")
    bad = [i for i, r in enumerate(rows if isinstance(rows, list) else [None])
           if not (isinstance(r, dict) and all(isinstance(r.get(k), str) for k in PICKUP_KEYS))]
    if not isinstance(rows, list) or bad:
        raise S5InputError(f"pick-up list {path}: row {bad[0] if bad else 0} is not "
                           f"{{{', '.join(PICKUP_KEYS)}}}")
    return rows


def plan_pickup(source: str, input_dir: Path, pickup_json: Path, out_root: Path) -> List[Item]:
    """Rows of a pick-up list -> items ``input_dir/file_name`` -> ``out_root/convert_path``."""
    rows = read_pickup_list(pickup_json)
    items = [Item(source, input_dir / r["file_name"], out_root / r["convert_path"])
             for r in rows]
    missing = [str(it.src) for it in items if not it.src.is_file()]
    if missing:
        raise S5InputError(
            f"{len(missing)} of {len(items)} {source} files listed in {pickup_json} are missing "
            f"under {input_dir}, e.g. {missing[0]}; check the {source} path option")
    dups = [d for d, n in Counter(str(it.dst) for it in items).items() if n > 1]
    if dups:
        raise S5InputError(f"{pickup_json}: {len(dups)} target path(s) listed twice, "
                           f"e.g. {dups[0]}")
    return items


def plan_all(dev_set: Path, semhear_path: Path, ears_path: Path) -> List[Item]:
    """The three steps of add_data.sh as one list of items."""
    for name, path in (("--semhear_path", semhear_path), ("--ears_path", ears_path)):
        if not Path(path).is_dir():
            raise S5InputError(f"{name} {path} is not a folder")
    dev_set, semhear_path, ears_path = Path(dev_set), Path(semhear_path), Path(ears_path)
    return (plan_interference(semhear_path / "bg_scaper_fmt", dev_set / "interference")
            + plan_pickup("FSD50K", semhear_path / "FSD50K",
                          dev_set / "config" / "FSD50K_config.json", dev_set / "sound_event")
            + plan_pickup("EARS", ears_path, dev_set / "config" / "EARS_config.json",
                          dev_set / "sound_event"))


def run_shard(items: Sequence[Item], job: int, nj: int, cfg: FilterConfig = FilterConfig(),
              progress: bool = True) -> List[Dict[str, str]]:
    """Process job ``job``'s share of ``items`` (:func:`~espnet2_ext.jobs.job_share`); return their info rows."""
    shard = job_share(list(items), job, nj)
    infos = []
    for it in tqdm(shard, desc=f"external data {job}/{nj}", disable=not progress):
        info = process_wav(it.src, it.dst, cfg)
        info["source"] = it.source
        infos.append(info)
    return infos


# --------------------------------------------------------------------------- the summary
def summarize(infos: Iterable[Dict[str, str]]) -> Tuple[str, dict]:
    """Per-source, per-status counts -> (printable text, JSON-able dict)."""
    infos = list(infos)
    by_source: Dict[str, Counter] = {}
    for info in infos:
        by_source.setdefault(info["source"], Counter())[info["status"]] += 1
    total = Counter(i["status"] for i in infos)
    kept = sum(n for s, n in total.items() if s.startswith("selected"))
    removed = sum(n for s, n in total.items() if s.startswith("remove"))
    lines = [f"Processed {len(infos)} files: kept {kept}, removed {removed}, "
             f"already present {total.get(SKIPPED, 0)}"]
    for source in sorted(by_source):
        lines.append(f"{source}:")
        lines += [f"  - {status}: {n} files" for status, n in sorted(by_source[source].items())]
    summary = {"processed": len(infos), "kept": kept, "removed": removed,
               "skipped_exists": total.get(SKIPPED, 0),
               "by_source": {s: dict(sorted(c.items())) for s, c in sorted(by_source.items())}}
    return "\n".join(lines), summary


def write_summary(infos: Sequence[Dict[str, str]], outdir: Path) -> str:
    """Write ``summary.json``, ``summary.txt`` and ``by_status/<status>.json`` (file lists)."""
    text, summary = summarize(infos)
    outdir = Path(outdir)
    write_json(outdir / "summary.json", summary)
    for status in sorted({i["status"] for i in infos}):
        write_json(outdir / "by_status" / f"{status}.json",
                   [i for i in infos if i["status"] == status])
    with atomic_path(outdir / "summary.txt") as tmp:
        tmp.write_text(text + "\n")
    return text
