"""Listening report: ``<score dir>/report/index.html``, to hear and see what the system did.

A self-contained static page (no server, no network, no framework; opens from the file
system) with the summary table and, for a subset of soundscapes (default: the 10 best,
10 median and 10 worst by per-mixture CAPI-SDRi, plus every mixture without a target),
one table each: the mixture (channel 0), then every matched (reference, estimate) pair
with its labels, the estimate's probability and the pair's SDR / SDRi, then the misses
and false alarms, each waveform as an ``<audio>`` player and a spectrogram image.

Layout of the report folder (all links relative)::

    report/index.html
    report/media/<row>/mix.mp3, mix.png, ref<slot>_<Label>.mp3/.png, est<slot>_<Label>.mp3/.png

Size budget: a clip (one waveform) costs at most ``max_seconds`` x
:data:`AUDIO_BYTES_PER_SECOND` (mp3: 6.1 KB/s, wav: 32 KB/s) plus its spectrogram
(< :data:`SPEC_MAX_BYTES`, 32 KB) -- at most 0.1 MB per 10 s clip with mp3 (0.36 MB with wav);
the page adds under 8 KB per soundscape. :func:`size_budget` is the bound the tests assert.
The default subset on 10 s mixtures (30 ranked soundscapes of at most 7 clips: the mixture,
3 references, 3 estimates) stays under 21 MB with mp3, plus at most 0.4 MB per soundscape
without a target (mixture + up to 3 false alarms).

The folder is built next to the destination (``.report.tmp-*``) and renamed into place,
so a reader never sees a half-written report.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Iterable, List, Mapping, Optional, Sequence

import numpy as np

from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import atomic_dir
from espnet2_ext.s5.estimates import SAMPLE_RATE, MixtureRecord
from espnet2_ext.s5.labels import SILENCE
from espnet2_ext.s5.listening_report.media import (
    AUDIO_BYTES_PER_SECOND,
    AUDIO_FORMATS,
    AUDIO_RATE,
    SPEC_MAX_BYTES,
    listening_copy,
    write_audio,
    write_spectrogram,
)
from espnet2_ext.s5.listening_report.page import Clip, Line, Section, render_page
from espnet2_ext.s5.listening_report.select import capi_by_soundscape, pair_rows, select_soundscapes

log = logging.getLogger(__name__)

REPORT_DIRNAME = "report"
REPORT_INDEX = f"{REPORT_DIRNAME}/index.html"     # relative to the score folder (for links)
PAGE_BYTES_PER_ROW = 8_000
DEFAULT_MAX_SECONDS = 10.0

__all__ = ["REPORT_DIRNAME", "REPORT_INDEX", "check_options", "report_index", "size_budget",
           "write_report", "select_soundscapes"]


def report_index(score_dir: os.PathLike) -> Path:
    """Where the report page of a score folder is (``<score_dir>/report/index.html``)."""
    return Path(score_dir) / REPORT_INDEX


def size_budget(n_clips: int, n_rows: int, max_seconds: float, audio_format: str = "mp3") -> int:
    """Upper bound in bytes of a report with ``n_clips`` waveforms in ``n_rows`` soundscapes."""
    per_clip = max_seconds * AUDIO_BYTES_PER_SECOND[audio_format] + SPEC_MAX_BYTES + 1_000  # + headers
    return int(n_clips * per_clip + (n_rows + 1) * PAGE_BYTES_PER_ROW)


def check_options(soundscapes: Sequence[str], n: int, extra: Sequence[str], audio_format: str,
                  max_seconds: float) -> None:
    """Reject bad report options (before any scoring) with an S5InputError."""
    if n < 0:
        raise S5InputError(f"--report_n must be >= 0, got {n}")
    unknown = sorted(set(extra) - set(soundscapes))
    if unknown:
        raise S5InputError(f"--report_soundscapes: {unknown[0]!r} is not a soundscape of the set "
                           f"({len(unknown)} unknown); give names of the soundscape folder's wavs")
    if audio_format not in AUDIO_FORMATS:
        raise S5InputError(f"--report_audio_format {audio_format!r}: use one of {', '.join(AUDIO_FORMATS)}")
    if not max_seconds > 0:
        raise S5InputError(f"--report_max_seconds must be > 0, got {max_seconds}")


def _emit(folder: Path, rel: str, wav: np.ndarray, caption: str, fmt: str, max_seconds: float) -> Clip:
    """Write the listening copy and spectrogram of ``wav`` [T] (32 kHz) under ``folder/rel``."""
    clip = listening_copy(wav, SAMPLE_RATE, max_seconds)
    audio = rel + AUDIO_FORMATS[fmt][0]
    write_audio(folder / audio, clip, fmt)
    write_spectrogram(folder / (rel + ".png"), clip)
    return Clip(audio, rel + ".png", caption)


def _section(folder: Path, index: int, record: MixtureRecord, capi: Optional[float],
             reasons: Sequence[str], fmt: str, max_seconds: float) -> Section:
    base = f"media/{index:03d}/"

    def clip(kind: str, slot: int) -> Clip:     # every slot is in exactly one pair
        label = (record.ref_labels if kind == "ref" else record.est_labels)[slot]
        wav = (record.ref_wavs if kind == "ref" else record.est_wavs)[slot]
        caption = f"{'reference' if kind == 'ref' else 'estimate'} {slot}: {label}"
        if kind == "est":
            caption += f" (p = {record.probabilities[slot]:.3f})"
        return _emit(folder, f"{base}{kind}{slot}_{label}", wav, caption, fmt, max_seconds)

    lines = [Line("mixture", _emit(folder, base + "mix", record.mixture, "mixture, channel 0", fmt,
                                   max_seconds), None)]
    for pair in pair_rows(record):
        figures = "" if pair.sdr is None else f"SDR {pair.sdr:.2f} dB / SDRi {pair.sdri:.2f} dB"
        lines.append(Line(pair.status, None if pair.ref is None else clip("ref", pair.ref),
                          None if pair.est is None else clip("est", pair.est), figures))
    return Section(record.soundscape, reasons, capi, lines)


def write_report(
    score_dir: os.PathLike,
    summary: Mapping,
    load_records: Callable[[List[str]], Iterable[MixtureRecord]],
    system: str,
    n: int = 10,
    extra: Sequence[str] = (),
    audio_format: str = "mp3",
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> Path:
    """Build ``<score_dir>/report/`` from a results.json ``summary``; return the index path.

    load_records(names) yields the :class:`MixtureRecord` of those soundscapes in order
    (e.g. :func:`espnet2_ext.s5.estimates.iter_records`); only the selected ones are read.
    """
    check_options([d["soundscape"] for d in summary["details"]], n, extra, audio_format, max_seconds)
    chosen = select_soundscapes(summary["details"], n, extra)
    capi = capi_by_soundscape(summary["details"])
    score_dir = Path(score_dir)
    with atomic_dir(score_dir / REPORT_DIRNAME, keep=()) as tmp:
        sections = [_section(tmp, i, record, capi[record.soundscape], chosen[record.soundscape],
                             audio_format, max_seconds)
                    for i, record in enumerate(load_records(list(chosen)))]
        asked = " and the ones asked for" if extra else ""
        note = (f"Shown: the {n} best, {n} median and {n} worst soundscapes by CAPI-SDRi, every "
                f"soundscape without a target event{asked}. Clips: the first {max_seconds:g} s at "
                f"{AUDIO_RATE // 1000} kHz, each peak-normalised to −1 dBFS ({audio_format}); "
                f"spectrograms 0–{AUDIO_RATE // 2000} kHz, 80 dB range. "
                f"Pairs are the CAPI-SDRi assignment (same label only); silent slots ({SILENCE}) "
                f"are left out.")
        (tmp / "index.html").write_text(render_page(system, summary, sections, note), encoding="utf-8")
    log.info("wrote the listening report %s (%d soundscapes)", report_index(score_dir), len(sections))
    return report_index(score_dir)
