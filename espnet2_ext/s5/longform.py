"""Long-form decoding: recordings of any length, decoded as overlapping windows of the model's length.

The S5 model is trained on 10 s mixtures with at most 3 events. A longer recording is cut into
windows of ``W = round(window_s * sr)`` samples, every window is decoded by ``decode_window``
(the ordinary one-clip decoder: a batch ``[B, 4, W]`` -> per window a list of
``(label, probability, waveform [W])``), and the per-window events are linked into *tracks*,
one per event of the recording, each with one waveform over the whole file.

Window starts (``T`` samples, hop ``H = round(hop_s * sr)``, ``0 < H <= W``)::

    T <= W :  one window, the clip as it is (no padding, no cross-fade): exactly the
              one-clip decode; the tracks' waveforms are decode_window's outputs unchanged.
    T >  W :  s_k = k H  for k = 0, 1, ... while k H < T - W,  then  s_last = T - W
              (the last window is aligned to the end; every sample is in >= 1 window).

Linking (window k-1 -> window k, overlap region ``O = [s_k, s_{k-1} + W)``): a detection of
window k continues a track whose last detection is in window k-1 if

* the labels are equal,
* both are active in ``O`` at times at most ``link_gap_s`` (0.1 s) apart (activity: 10 ms
  frames whose RMS is at least the detection's loudest frame times ``10^(rel_db/20)``, -30 dB,
  and at least ``abs_floor``), and
* their waveforms ``a``, ``b`` (both cut to ``O``) correlate:
  ``rho = <a, b> / (|a| |b|) >= min_corr`` (0.3): two estimates of one event agree there, two
  different events of one class do not.

With no overlap (``H = W``) both must instead be active within ``link_gap_s`` of the border.
Among eligible pairs the one-to-one matching is greedy on ``rho``, then on the number of
co-active frames. So a class present twice in a window gives two tracks (the two events are
active at different times, or correlate with different continuations); a detection with no
match starts a new track; a track not found in window k ends (no bridging over a missed window).

Overlap-add with a cross-fade: window k gets the taper ``g_k`` (1 inside; at an edge shared with
a neighbour, a raised-cosine ramp over ``F = min(overlap, W // 2)`` samples,
``rise[n] = sin^2(pi/2 (n + 1/2) / F)``, ``fall[n] = rise[F-1-n] = cos^2(pi/2 (n + 1/2) / F)``;
no ramp at the file's ends). A track made of the windows ``K`` is::

    y(t) = sum_{k in K} g_k(t - s_k) y_k(t - s_k) / sum_{k in K} g_k(t - s_k)

where the denominator is > 0 inside K's windows (the ramps are > 0 there thanks to the half
sample) and y = 0 outside them. The weights ``g_k / sum g`` sum to 1 at every sample, so a
constant estimate stays constant (:func:`crossfade_weights` places them over the whole file).
Where just two windows overlap by ``<= W/2`` (``H >= W/2``, except maybe the end-aligned last
window) their ramps cover the same F samples and ``sin^2 + cos^2 = 1``: a complementary
raised-cosine cross-fade, the normalisation does nothing. Where only one of the track's windows
covers t, its estimate is taken as it is (an event missed by a neighbour window is not faded).

Onset/offset: from the track's waveform (not the tagger): 10 ms frames with RMS
``>= 10^(rel_db/20) * peak frame RMS`` and ``>= abs_floor`` are active; gaps shorter than
``min_gap_s`` are filled, then segments shorter than ``min_dur_s`` dropped (unless all are);
onset = start of the first active frame, offset = end of the last (at most T / sr). A track
with no active frame gets the span of its windows. Probability = the *maximum* of the track's
per-window probabilities. Entries labelled ``silence`` are ignored.

Assumptions: at most 3 events at a time in any window, of the classes the model knows (the
decoder's limits); an event is a track as long as consecutive windows find it.

Decoding streams: one batch of windows is held at a time and a track keeps its running sums, so
memory is the returned tracks (T float32 samples each) plus one batch. :func:`write_sed_table`
writes the events table (DCASE SED format plus a probability column), :func:`sed_rows` makes
its rows from the tracks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import atomic_path
from espnet2_ext.s5.official import SAMPLE_RATE, SILENCE

Detection = Tuple[str, float, np.ndarray]          # (label, probability, waveform [W])
DecodeWindow = Callable[[torch.Tensor], List[List[Detection]]]
SED_HEADER = ("filename", "onset", "offset", "event_label", "probability")
FRAME_S = 0.01


@dataclass
class Track:
    """One event across the whole recording."""

    label: str
    probability: float     # max over the windows it was found in
    onset: float           # seconds
    offset: float          # seconds
    waveform: np.ndarray   # [T_total] float32 mono, zeros outside the track
    windows: List[int] = field(default_factory=list)   # indices of its windows (see window_starts)


@dataclass(frozen=True)
class TrackConfig:
    """Thresholds of the energy envelope (linking, onset/offset) and of the linking correlation."""

    rel_db: float = -30.0      # active: frame RMS >= peak frame RMS * 10^(rel_db/20) ...
    abs_floor: float = 1e-4    # ... and >= this (about -80 dBFS)
    min_gap_s: float = 0.2     # gaps shorter than this are filled
    min_dur_s: float = 0.05    # segments shorter than this are dropped (unless all are)
    link_gap_s: float = 0.1    # linking: activities at most this far apart count as touching
    min_corr: float = 0.3      # linking: waveform correlation over the overlap at least this


def check_hop(window_s: float, hop_s: float) -> None:
    """S5InputError unless ``0 < hop_s <= window_s``."""
    if not window_s > 0:
        raise S5InputError(f"long-form window_s must be > 0 seconds, got {window_s}")
    if not (hop_s > 0 and hop_s <= window_s):
        raise S5InputError(
            f"long-form hop_s must be > 0 and <= window_s ({window_s} s) so that the windows "
            f"cover the recording, got hop_s={hop_s}; e.g. --hop_s {window_s / 2:g}")


def window_starts(n_samples: int, window: int, hop: int) -> List[int]:
    """Start samples of the windows covering ``[0, n_samples)``: 0, H, 2H, ... and T - W last."""
    if n_samples <= window:
        return [0]
    return list(range(0, n_samples - window, hop)) + [n_samples - window]


def window_taper(starts: Sequence[int], k: int, window: int) -> np.ndarray:
    """[W] float64 taper g_k of window k: 1, with raised-cosine ramps over the edges it shares."""
    g = np.ones(window)
    for side, other in (("left", k - 1), ("right", k + 1)):
        if 0 <= other < len(starts):
            fade = min(window - abs(starts[k] - starts[other]), window // 2)
            if fade > 0:
                rise = np.sin(0.5 * math.pi * (np.arange(fade) + 0.5) / fade) ** 2
                if side == "left":
                    g[:fade] *= rise
                else:
                    g[window - fade:] *= rise[::-1]
    return g


def crossfade_weights(starts: Sequence[int], window: int, n_samples: int) -> np.ndarray:
    """[n_windows, T] weights ``g_k / sum_j g_j`` placed in the file (zero outside window k)."""
    w = np.zeros((len(starts), n_samples))
    for k, s in enumerate(starts):
        w[k, s:s + window] = window_taper(starts, k, window)
    total = w.sum(0)
    return np.divide(w, total, out=np.zeros_like(w), where=total > 0)


def _frame_rms(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """[ceil(N / frame)] RMS of the 10 ms frames of ``x`` [N] (the last frame may be shorter)."""
    frame = max(1, int(round(FRAME_S * sample_rate)))
    n = int(math.ceil(len(x) / frame))
    pad = np.zeros(n * frame, dtype=np.float64)
    pad[:len(x)] = x
    counts = np.full(n, frame, dtype=np.float64)
    if n:
        counts[-1] = len(x) - (n - 1) * frame
    return np.sqrt((pad.reshape(n, frame) ** 2).sum(1) / counts)


def _peak_rms(x: np.ndarray, sample_rate: int) -> float:
    rms = _frame_rms(x, sample_rate)
    return float(rms.max()) if rms.size else 0.0


def frame_activity(x: np.ndarray, sample_rate: int, peak: Optional[float] = None,
                   cfg: TrackConfig = TrackConfig()) -> np.ndarray:
    """[ceil(N / frame)] bool: the 10 ms frames of ``x`` [N] with RMS >= 10^(rel_db/20) * peak
    and >= abs_floor; ``peak``: the reference frame RMS (default: the loudest frame of ``x``)."""
    rms = _frame_rms(x, sample_rate)
    ref = (float(rms.max()) if rms.size else 0.0) if peak is None else peak
    return (rms >= ref * 10.0 ** (cfg.rel_db / 20.0)) & (rms >= cfg.abs_floor)


def onset_offset(waveform: np.ndarray, sample_rate: int,
                 cfg: TrackConfig = TrackConfig()) -> Optional[Tuple[float, float]]:
    """(onset, offset) in seconds from the energy envelope of ``waveform`` [T]; None if silent."""
    act = frame_activity(waveform, sample_rate, cfg=cfg)
    idx = np.flatnonzero(act)
    if idx.size == 0:
        return None
    frame_s = max(1, int(round(FRAME_S * sample_rate))) / sample_rate
    # segments [start, end) in frames; gaps shorter than min_gap_s are filled
    breaks = np.flatnonzero(np.diff(idx) > 1)
    segs = [[int(a), int(b) + 1] for a, b in zip(np.r_[idx[0], idx[breaks + 1]], np.r_[idx[breaks], idx[-1]])]
    merged = [segs[0]]
    for a, b in segs[1:]:
        if (a - merged[-1][1]) * frame_s < cfg.min_gap_s:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    kept = [s for s in merged if (s[1] - s[0]) * frame_s >= cfg.min_dur_s]
    if not kept:
        kept = [max(merged, key=lambda s: s[1] - s[0])]
    return kept[0][0] * frame_s, min(kept[-1][1] * frame_s, len(waveform) / sample_rate)


def _decode_batches(mixture: torch.Tensor, starts: Sequence[int], window: int, decode_window: DecodeWindow,
                    batch_size: int) -> Iterator[Tuple[int, List[Detection]]]:
    """(window index, its detections) in order, one batch at a time (silence dropped; waveforms
    checked to be [W] and made float32)."""
    for i in range(0, len(starts), batch_size):
        chunk = starts[i:i + batch_size]
        results = decode_window(torch.stack([mixture[:, s:s + window] for s in chunk]))
        if len(results) != len(chunk):
            raise ValueError(f"decode_window returned {len(results)} results for a batch of {len(chunk)}")
        for j, dets in enumerate(results):
            kept = []
            for label, prob, wav in dets:
                if isinstance(wav, torch.Tensor):
                    wav = wav.detach().float().cpu().numpy()
                wav = np.asarray(wav, dtype=np.float32).reshape(-1)
                if wav.shape[0] != window:
                    raise ValueError(f"decode_window returned a {wav.shape[0]}-sample waveform for "
                                     f"{label!r}; expected the window's {window} samples")
                if label != SILENCE:
                    kept.append((str(label), float(prob), wav))
            yield i + j, kept


def _link_score(prev: np.ndarray, cur: np.ndarray, prev_start: int, cur_start: int, window: int,
                sample_rate: int, cfg: TrackConfig) -> Optional[Tuple[float, int]]:
    """(correlation, co-active frames) of two same-label detections of consecutive windows, or
    None if they are not active at touching times in the overlap (or near the border)."""
    overlap = prev_start + window - cur_start
    gap = int(round(cfg.link_gap_s / FRAME_S))
    frame = max(1, int(round(FRAME_S * sample_rate)))
    if overlap >= frame:
        a = prev[cur_start - prev_start:]
        b = cur[:overlap]
        act_a = frame_activity(a, sample_rate, _peak_rms(prev, sample_rate), cfg)
        act_b = frame_activity(b, sample_rate, _peak_rms(cur, sample_rate), cfg)
        dil = np.convolve(act_a.astype(float), np.ones(2 * gap + 1), mode="same") > 0
        co = int(np.sum(dil & act_b))
        if co == 0:
            return None
        den = float(np.linalg.norm(a) * np.linalg.norm(b))
        rho = float(np.dot(a.astype(np.float64), b)) / den if den > 0 else 0.0
        return (rho, co) if rho >= cfg.min_corr else None
    n = max(1, gap * frame)        # no overlap: both active within link_gap_s of the border
    act_a = frame_activity(prev[-n:], sample_rate, _peak_rms(prev, sample_rate), cfg)
    act_b = frame_activity(cur[:n], sample_rate, _peak_rms(cur, sample_rate), cfg)
    return (0.0, 1) if act_a.any() and act_b.any() else None


def link_window(previous: Sequence[Tuple[str, np.ndarray]], current: Sequence[Tuple[str, np.ndarray]],
                prev_start: int, cur_start: int, window: int, sample_rate: int,
                cfg: TrackConfig = TrackConfig()) -> Dict[int, int]:
    """{index in current: index in previous}: the detections (label, waveform [W]) of a window
    that continue those of the window before it (see the module doc: label, activity and
    correlation, then a greedy one-to-one matching on correlation and co-active frames)."""
    pairs = []
    for p, (plabel, pwav) in enumerate(previous):
        for c, (label, wav) in enumerate(current):
            if label == plabel:
                score = _link_score(pwav, wav, prev_start, cur_start, window, sample_rate, cfg)
                if score is not None:
                    pairs.append((score, p, c))
    pairs.sort(key=lambda x: x[0], reverse=True)
    links: Dict[int, int] = {}
    for _, p, c in pairs:
        if c not in links and p not in links.values():
            links[c] = p
    return links


class _Growing:
    """A track being built: overlap-add sums ``num = sum g y``, ``den = sum g`` from its first
    window's start (float64 buffers that double when full)."""

    def __init__(self, label: str, origin: int):
        self.label, self.origin, self.probs, self.windows = label, origin, [], []
        self.num, self.den = np.zeros(0), np.zeros(0)
        self.last: Optional[np.ndarray] = None      # its estimate in its latest window

    def add(self, k: int, start: int, prob: float, wav: np.ndarray, taper: np.ndarray) -> None:
        end = start - self.origin + len(wav)
        if end > len(self.num):
            size = max(end, 2 * len(self.num))
            self.num = np.concatenate([self.num, np.zeros(size - len(self.num))])
            self.den = np.concatenate([self.den, np.zeros(size - len(self.den))])
        self.num[end - len(wav):end] += taper * wav
        self.den[end - len(wav):end] += taper
        self.probs.append(prob)
        self.windows.append(k)
        self.last = wav

    def waveform(self, total: int) -> np.ndarray:
        """[total] float32: num / den where den > 0, zeros elsewhere."""
        out = np.zeros(total, dtype=np.float32)
        n = min(len(self.num), total - self.origin)
        num, den = self.num[:n], self.den[:n]
        out[self.origin:self.origin + n] = np.divide(num, den, out=np.zeros(n), where=den > 0)
        return out


def decode_long_form(mixture: torch.Tensor, decode_window: DecodeWindow,
                     sample_rate: int = SAMPLE_RATE, window_s: float = 10.0, hop_s: float = 5.0,
                     batch_size: int = 1, config: TrackConfig = TrackConfig()) -> List[Track]:
    """Decode ``mixture`` [C, T] (C = 4) by windows of ``window_s`` every ``hop_s`` seconds.

    ``decode_window``: batch [B, C, W] -> per window [(label, probability, waveform [W]), ...].
    Returns the tracks sorted by onset (then label), each waveform [T] float32. A file of at
    most ``window_s`` is one call on the file as it is (W = T), outputs unchanged. Memory: the
    detections of one batch, the open tracks' sums, and T float32 samples per track returned."""
    check_hop(window_s, hop_s)
    if batch_size < 1:
        raise S5InputError(f"long-form batch_size must be >= 1, got {batch_size}")
    if mixture.ndim != 2 or mixture.shape[-1] == 0:
        raise S5InputError(f"long-form decoding expects a [channels, samples] mixture with samples, "
                           f"got shape {tuple(mixture.shape)}")
    total = int(mixture.shape[-1])
    window = min(total, max(1, int(round(window_s * sample_rate))))
    hop = max(1, int(round(hop_s * sample_rate)))
    starts = window_starts(total, window, hop)
    if len(starts) == 1:            # T <= W: the one-clip decode, outputs as they are
        dets = [d for _, d in _decode_batches(mixture, starts, window, decode_window, 1)][0]
        return sorted((_finish(label, prob, wav, [0], starts, window, sample_rate, config)
                       for label, prob, wav in dets), key=lambda t: (t.onset, t.label))
    done: List[_Growing] = []
    open_tracks: List[_Growing] = []
    for k, dets in _decode_batches(mixture, starts, window, decode_window, batch_size):
        links = {} if k == 0 else link_window(
            [(t.label, t.last) for t in open_tracks], [(d[0], d[2]) for d in dets],
            starts[k - 1], starts[k], window, sample_rate, config)
        now_open, taper = [], window_taper(starts, k, window)
        for c, (label, prob, wav) in enumerate(dets):
            track = open_tracks[links[c]] if c in links else _Growing(label, starts[k])
            track.add(k, starts[k], prob, wav, taper)
            now_open.append(track)
        done += [t for t in open_tracks if t not in now_open]
        open_tracks = now_open
    tracks = [_finish(t.label, max(t.probs), t.waveform(total), t.windows, starts, window, sample_rate,
                      config) for t in done + open_tracks]
    return sorted(tracks, key=lambda t: (t.onset, t.label))


def _finish(label: str, prob: float, wav: np.ndarray, windows: List[int], starts: Sequence[int],
            window: int, sample_rate: int, config: TrackConfig) -> Track:
    """The Track, its onset/offset from ``wav`` [T] (the span of its windows if silent)."""
    span = onset_offset(wav, sample_rate, config) or (
        starts[windows[0]] / sample_rate, (starts[windows[-1]] + window) / sample_rate)
    return Track(label=label, probability=prob, onset=span[0], offset=span[1], waveform=wav,
                 windows=list(windows))


def sed_rows(filename: str, tracks: Iterable[Track]) -> List[Tuple[str, float, float, str, float]]:
    """The events table rows (filename, onset, offset, event_label, probability) of ``tracks``."""
    return [(filename, t.onset, t.offset, t.label, t.probability) for t in tracks]


def write_sed_table(path: Path, rows: Iterable[Tuple[str, float, float, str, float]]) -> None:
    """Atomically write a DCASE SED table: tab-separated, header
    ``filename onset offset event_label probability``, times in s (3 decimals)."""
    lines = ["\t".join(SED_HEADER)]
    for filename, onset, offset, label, prob in rows:
        for what, text in (("file name", filename), ("event label", label)):
            if any(c in str(text) for c in "\t\r\n"):
                raise S5InputError(f"the events table cannot hold the {what} {text!r} "
                                   f"(tab or line break); rename it")
        if not 0 <= float(onset) <= float(offset):
            raise ValueError(f"events table row for {filename!r}/{label!r}: onset {onset} "
                             f"and offset {offset} must satisfy 0 <= onset <= offset")
        lines.append(f"{filename}\t{float(onset):.3f}\t{float(offset):.3f}\t{label}\t{float(prob):.4f}")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
