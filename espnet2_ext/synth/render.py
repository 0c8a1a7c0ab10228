"""Rendering a :class:`~espnet2_ext.synth.scene.Scene` to a mixture + dry targets.

Rendering (§6) for every foreground/interference event:
  x  = mono clip at ``sr``, peak-normalised;  h = normalised RIR [C, L]
  g  = 10 ** ((ref_db + snr - P) / 20),  P = 10 log10(mean over channels and the
       FULL convolution length n + L - 1 of (x * h)^2)   (the level rule, tail included)
  mixture[:, o:] += g * (x * h)  truncated at the mixture end (o = int(event_time * sr))
  dry (fg only)   = g * (x * h_direct[dry_channel]) placed the same way
Background: ``duration`` s from ``source_time`` (whole seconds) or the tiled file,
scaled to mean power ``ref_db``.

:class:`SceneRenderer` is the fast path, all in float32 with cached RIR spectra (transforms by
:mod:`~espnet2_ext.synth.fft`: MKL descriptors committed once, torch.fft's results):
  * one rfft per event at a common power-of-two FFT size N >= T + L - 1
    (:func:`~espnet2_ext.synth.room.fft_size`; the onset is applied by placing the clip in
    the FFT buffer), all events of the scene in one batched call;
  * the level from the same spectrum by Parseval (energy = sum_k |X_k|^2 sum_c |H_ck|^2 / N);
  * the events summed in the frequency domain; each dry target as the event spectrum times
    the cached spectrum of the direct-path window; then one batched inverse transform of the
    C mixture rows and the dry rows;
  * the background scaled and added while the mixture is copied out (no float64 or tiled copy);
  * the temporaries in scratch buffers reused from mixture to mixture (:class:`_Scratch`).
:func:`render_scene_reference` is the straightforward float64 SpAudSyn-equivalent used as the
oracle in tests and the baseline in the benchmark.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import threading
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import scipy.signal
import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.synth import fft
from espnet2_ext.synth.room import RirCache, direct_path_rir, fft_size, spectral_power
from espnet2_ext.synth.scene import CorpusPaths, Event, PathLike, Scene
from espnet2_ext.synth.sources import SourceLoader

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Rendered:
    """``mixture`` [C, T] float32; ``dry`` [S, 1, T] float32 (S slots: the fg events in order, or
    as ``dry_slots`` says) or None."""

    mixture: np.ndarray
    dry: Optional[np.ndarray]


def level_gain(energy: float, n_chan: int, conv_len: int, ref_db: float, snr: float) -> float:
    """SpAudSyn gain: 10**((ref_db + snr - P)/20), P = 10 log10(energy / (n_chan * conv_len)).

    An all-zero event (energy 0) gets gain 0 instead of SpAudSyn's inf * 0 = NaN.
    """
    if energy <= 0.0:
        return 0.0
    power_db = 10.0 * math.log10(energy / (n_chan * conv_len))
    return 10.0 ** ((ref_db + snr - power_db) / 20.0)


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """torch's CPU ops on one thread inside: the transforms and sums of rendering then give the
    same bits whatever the caller's thread count (the main process of s5_synthesize, a loader
    worker with one thread), so an item stays a pure function of (seed, epoch, index)."""
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class _SceneIO:
    """Shared file access for both renderers: clips, background, RIR headers."""

    def __init__(self, corpus_root: PathLike = "data", sources: Optional[SourceLoader] = None,
                 rirs: Optional[RirCache] = None):
        self.paths = CorpusPaths(corpus_root)
        self.sources = sources or SourceLoader()
        self.rirs = rirs or RirCache()

    def event_path(self, scene: Scene, event: Event) -> Path:
        key = {"foreground": "foreground_dir", "interference": "interference_dir",
               "background": "background_dir"}[event.role]
        base = scene.config.get(key)
        if base is None:
            raise S5InputError(f"scene has a {event.role} event but config[{key!r}] is null")
        return self.paths.resolve(str(base).rstrip("/") + "/" + event.source_file)

    def clip(self, scene: Scene, event: Event) -> np.ndarray:
        """Mono, peak-normalised event clip at the scene rate -> [n] float32."""
        path = self.event_path(scene, event)
        return self.sources.read(path, event.source_time, event.event_duration, scene.sr, mono=True,
                                 peak_normalise=True)

    def background_clip(self, scene: Scene, event: Event, nchan: int) -> np.ndarray:
        """Samples of one background event [C, n] float32, n <= T: the ``duration`` s from
        ``source_time``, or (``source_time`` None) the whole file, to be tiled up to T."""
        path = self.event_path(scene, event)
        duration = None if event.source_time is None else scene.config["duration"]
        x = self.sources.read(path, event.source_time, duration, scene.sr, mono=False)
        if x.shape[0] != nchan:
            raise S5InputError(f"background {path} has {x.shape[0]} channels but the room has {nchan}")
        return x[:, :scene.n_samples]

    def background(self, scene: Scene, nchan: int) -> np.ndarray:
        """Sum of the scaled backgrounds -> [C, T] float64 (mean power ref_db each), step by step."""
        t = scene.n_samples
        total = np.zeros((nchan, t))
        for ev in scene.bg_events:
            x = self.background_clip(scene, ev, nchan).astype(np.float64)
            if ev.source_time is None and x.shape[1]:
                x = np.tile(x, (1, -(-t // x.shape[1])))[:, :t]
            power = float(np.mean(x ** 2)) if x.size else 0.0
            if power > 0:
                x = x * 10.0 ** ((scene.config["ref_db"] - 10.0 * math.log10(power)) / 20.0)
            total[:, :x.shape[1]] += x
        return total

    def background_parts(self, scene: Scene, nchan: int) -> List[Tuple[int, np.ndarray, float]]:
        """The scaled backgrounds as :meth:`background` sums them, but in float32 and without
        building the tiled copy: parts (start, samples [C, m], gain) to add at ``start``, the
        energy of the tiles counted per tile."""
        t, parts = scene.n_samples, []
        for ev in scene.bg_events:
            x = self.background_clip(scene, ev, nchan)
            n = x.shape[1]
            if n == 0:
                continue
            tiles = [(start, min(n, t - start)) for start in range(0, t, n)] if ev.source_time is None else [(0, n)]
            full = _sum_of_squares(x)
            energy = sum(full if m == n else _sum_of_squares(x[:, :m]) for _, m in tiles)
            if energy == 0.0:
                continue
            power = energy / (x.shape[0] * sum(m for _, m in tiles))
            gain = 10.0 ** ((scene.config["ref_db"] - 10.0 * math.log10(power)) / 20.0)
            parts += [(start, x[:, :m], gain) for start, m in tiles]
        return parts

    def add_background(self, scene: Scene, out: np.ndarray) -> None:
        """out [C, T] float32 += the scaled backgrounds (:meth:`background_parts`)."""
        with single_threaded():
            _add_parts(out, self.background_parts(scene, out.shape[0]))

    def room_path(self, scene: Scene) -> Path:
        return self.paths.resolve(scene.room_info["sofa_path"])


class SceneRenderer(_SceneIO):
    """Fast float32 renderer (see module docstring). Instances hold the caches; reuse them."""

    def __init__(self, corpus_root: PathLike = "data", sources: Optional[SourceLoader] = None,
                 rirs: Optional[RirCache] = None):
        super().__init__(corpus_root, sources, rirs)
        self._scratch = _Scratch()

    def render(self, scene: Scene, return_dry: bool = True, dry_channel: int = 0,
               dry_slots: Optional[Sequence[Optional[int]]] = None) -> Rendered:
        """``dry_slots``: the foreground event of each row of ``dry`` (None: a row of zeros), e.g.
        a shuffled slot order padded to the model's slots; default: the foreground events in order."""
        slots = list(range(len(scene.fg_events))) if dry_slots is None else list(dry_slots)
        if any(i is not None and not 0 <= i < len(scene.fg_events) for i in slots):
            raise ValueError(f"dry_slots {slots} name events the scene's {len(scene.fg_events)} targets lack")
        with single_threaded():
            return self._render(scene, return_dry, dry_channel, slots)

    def _render(self, scene: Scene, return_dry: bool, dry_channel: int, slots: List[Optional[int]]) -> Rendered:
        sr, t = scene.sr, scene.n_samples
        room_path = self.room_path(scene)
        room = self.rirs.room(room_path)
        nchan, rir_len = room.nchan, room.rir_len_at(sr)
        nfft = fft_size(t + rir_len - 1)
        events = list(scene.fg_events) + list(scene.int_events)      # dry targets: the first n_dry
        n_dry = len(scene.fg_events) if return_dry else 0
        background = self.background_parts(scene, nchan)
        if not events:   # background only (tagger scenes may have no event at all): no transform
            mixture = np.zeros((nchan, t), np.float32)
            _add_parts(mixture, background)
            return Rendered(mixture=mixture, dry=np.zeros((len(slots), 1, t), np.float32) if return_dry else None)
        clips = [torch.from_numpy(self.clip(scene, ev)) for ev in events]
        onsets = [int(ev.event_time * sr) for ev in events]
        f, n_out = nfft // 2 + 1, nchan + n_dry                          # out: mixture rows, then dry
        placed = _placed(clips, onsets, t, self._scratch.get("placed", (len(events), nfft), torch.float32))
        spectra = fft.rfft(placed, nfft, out=self._scratch.get("spectra", (len(events), f), torch.complex64))
        dry = (scene.direct_range_ms, dry_channel) if return_dry else None
        rirs = [self.rirs.spectra(room_path, ev.event_position, sr, nfft, dry) for ev in events]
        power = spectral_power(spectra)
        gains = []
        for i, (ev, x, o, rir) in enumerate(zip(events, clips, onsets, rirs)):
            n = x.shape[0]
            if n + rir_len - 1 > nfft:   # clip longer than the mixture: level over its own full convolution
                wet = scipy.signal.fftconvolve(x.numpy()[None], self.rirs.rir(room_path, ev.event_position, sr),
                                               axes=-1)
                energy = float(np.sum(wet ** 2))
            else:   # the level from the same transform, or (clip cut at the mixture end) from the whole clip's
                whole = power[i] if o + n <= t else spectral_power(fft.rfft(x, nfft))
                energy = float(parseval_energy(whole, rir.energy))
            gains.append(level_gain(energy, nchan, n + rir_len - 1, float(scene.config["ref_db"]), ev.snr))
        spectra.mul_(torch.tensor(gains, dtype=torch.float32)[:, None])
        out = self._scratch.get("products", (n_out, f), torch.complex64)
        torch.mul(rirs[0].wet, spectra[0], out=out[:nchan])
        for rir, x in zip(rirs[1:], spectra[1:]):
            out[:nchan].addcmul_(rir.wet, x)
        for i in range(n_dry):
            torch.mul(rirs[i].dry, spectra[i], out=out[nchan + i])
        signals = fft.irfft(out, nfft, out=self._scratch.get("signals", (n_out, nfft), torch.float32))[:, :t]
        return Rendered(mixture=_with_parts(signals[:nchan], background),
                        dry=_in_slots(signals[nchan:], slots) if return_dry else None)


class _Scratch(threading.local):
    """The renderer's temporaries (about 40 MB a mixture of the official settings), kept per
    thread and reused: fresh memory for them cost page faults, about 13 % of rendering time
    here. Each buffer grows to the largest size asked; nothing returned aliases one."""

    def get(self, name: str, shape: Tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
        size = shape[0] * shape[1]
        buffer = self.__dict__.get(name)
        if buffer is None or buffer.numel() < size or buffer.dtype != dtype:
            buffer = self.__dict__[name] = torch.empty(size, dtype=dtype)
        return buffer[:size].view(shape)

    def __reduce__(self):          # a pickled renderer (spawned loader workers) starts with none
        return _Scratch, ()


def _placed(clips: List[torch.Tensor], onsets: List[int], t: int, placed: torch.Tensor) -> torch.Tensor:
    """``placed`` [E, nfft] float32 filled: clip e at its onset, cut at the mixture end t, zeros elsewhere."""
    for row, x, o in zip(placed, clips, onsets):
        k = max(0, min(len(x), t - o))                                 # samples reaching [0, T)
        row[:o].zero_()
        row[o:o + k] = x[:k]
        row[o + k:].zero_()
    return placed


def _in_slots(dry: torch.Tensor, slots: List[Optional[int]]) -> np.ndarray:
    """A new [len(slots), 1, T] float32 array: row k = dry[slots[k]] (a view of a scratch
    buffer), or zeros where slots[k] is None."""
    out = torch.empty((len(slots), 1, dry.shape[-1]))
    for row, i in zip(out, slots):
        if i is None:
            row.zero_()
        else:
            row[0].copy_(dry[i])
    return out.numpy()


def _fresh(signal: torch.Tensor) -> np.ndarray:
    """A new contiguous float32 array holding ``signal`` (a view of a scratch buffer)."""
    return signal.clone(memory_format=torch.contiguous_format).numpy()


def _with_parts(signal: torch.Tensor, parts: List[Tuple[int, np.ndarray, float]]) -> np.ndarray:
    """signal [C, T] (a view) + the background parts -> a new [C, T] float32 array; one pass
    when a single part covers the whole mixture (the usual background)."""
    t = signal.shape[-1]
    if len(parts) == 1 and parts[0][0] == 0 and parts[0][1].shape[-1] == t:
        return torch.add(signal, torch.from_numpy(parts[0][1]), alpha=parts[0][2]).numpy()
    out = _fresh(signal)
    _add_parts(out, parts)
    return out


def _add_parts(out: np.ndarray, parts: List[Tuple[int, np.ndarray, float]]) -> None:
    """out [C, T] += gain * samples at start, for each background part (start, samples, gain)."""
    for start, x, gain in parts:
        _add_scaled(out[:, start:start + x.shape[-1]], x, gain)


def _add_scaled(out: np.ndarray, x: np.ndarray, scale: float) -> None:
    """out += scale * x in place, in one pass over the memory (float32 arrays)."""
    torch.from_numpy(out).add_(torch.from_numpy(x), alpha=scale)


def parseval_energy(power: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum_k |X_k|^2 * weights_k, the energy of the multichannel convolution by Parseval
    (power [F] = :func:`spectral_power` of the clip, weights [F] = ``RirSpectra.energy``),
    by torch's cascade summation (float32, relative error ~1e-8 here) -> 0-dim tensor."""
    return (power * weights).sum()


def _sum_of_squares(x: np.ndarray) -> float:
    """sum(x**2) of a float32 array, by torch's cascade summation (relative error ~1e-8 on a
    10 s, 4-channel background; a plain float32 dot product was ~1e-6)."""
    return float(torch.from_numpy(x).square().sum())


def render_scene_reference(io: _SceneIO, scene: Scene, return_dry: bool = True,
                           dry_channel: int = 0) -> Rendered:
    """Straightforward float64 rendering, step by step as SpAudSyn does it (slow; the oracle)."""
    sr, t = scene.sr, scene.n_samples
    room = io.rirs.room(io.room_path(scene))
    mixture = io.background(scene, room.nchan)
    dry = []
    for ev in list(scene.fg_events) + list(scene.int_events):
        x = io.clip(scene, ev).astype(np.float64)
        h = room.rir(ev.event_position, sr)
        wet = scipy.signal.fftconvolve(x[None], h, axes=-1)
        power = float(np.mean(wet ** 2))
        gain = 0.0 if power == 0 else 10.0 ** ((scene.config["ref_db"] + ev.snr - 10 * math.log10(power)) / 20)
        onset = int(ev.event_time * sr)
        _add_at(mixture, gain * wet, onset)
        if return_dry and ev.role == "foreground":
            d = np.zeros((1, t))
            hd = direct_path_rir(h[dry_channel], sr, scene.direct_range_ms)
            _add_at(d, gain * scipy.signal.fftconvolve(x, hd)[None], onset)
            dry.append(d)
    dry_arr = (np.stack(dry) if dry else np.zeros((0, 1, t))) if return_dry else None
    return Rendered(mixture=mixture.astype(np.float32),
                    dry=None if dry_arr is None else dry_arr.astype(np.float32))


def _add_at(target: np.ndarray, signal: np.ndarray, onset: int) -> None:
    """target[:, onset:] += signal, truncated at the end of ``target``."""
    n = max(0, min(signal.shape[-1], target.shape[-1] - onset))
    if n:
        target[:, onset:onset + n] += signal[:, :n]
