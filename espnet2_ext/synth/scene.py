"""Scenes: event lists, SpAudSyn metadata JSON, and rendering to a mixture + dry targets.

A :class:`Scene` is exactly the content of one SpAudSyn metadata file
(synthesizer_spec.md §5): ``config``, ``fg_events``, ``bg_events``, ``int_events``
and ``room``. Paths are stored as in the official metadata (``data/dev_set/...``)
and resolved with :class:`CorpusPaths` against the folder that holds ``dev_set/``.

Rendering (§6) for every foreground/interference event:
  x  = mono clip at ``sr``, peak-normalised;  h = normalised RIR [C, L]
  g  = 10 ** ((ref_db + snr - P) / 20),  P = 10 log10(mean over channels and the
       FULL convolution length n + L - 1 of (x * h)^2)   (the level rule, tail included)
  mixture[:, o:] += g * (x * h)  truncated at the mixture end (o = int(event_time * sr))
  dry (fg only)   = g * (x * h_direct[dry_channel]) placed the same way
Background: ``duration`` s from ``source_time`` (whole seconds) or the tiled file,
scaled to mean power ``ref_db``.

:class:`SceneRenderer` is the fast path, all in float32 with cached RIR spectra:
  * one rfft per event at a common FFT size N >= T + L - 1 (:func:`~espnet2_ext.synth.room.fft_size`;
    the onset is applied by placing the clip in the FFT buffer);
  * the level from the same spectrum by Parseval (energy = sum_k |X_k|^2 sum_c |H_ck|^2 / N);
  * the events summed in the frequency domain, then C inverse FFTs per mixture;
  * each dry target as a short convolution with the non-zero direct-path window of the RIR
    (W = 1,793 taps at 32 kHz; overlap-add), not a transform of length N;
  * the background scaled and added in place (no float64 or tiled copy).
:func:`render_scene_reference` is the straightforward float64 SpAudSyn-equivalent used as the
oracle in tests and the baseline in the benchmark.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import math
from pathlib import Path
from typing import List, Optional, Union

import numpy as np
import scipy.fft
import scipy.signal
import torch

from espnet2_ext import validate
from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import read_json
from espnet2_ext.s5.labels import CLASSES
from espnet2_ext.s5.official import SAMPLE_RATE
from espnet2_ext.synth.room import DirectWindow, RirCache, direct_path_rir, fft_size
from espnet2_ext.synth.sources import SourceLoader

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
ROOM_MODULE = "src.modules.spatial_audio_synthesizer.room"  # as in the baseline configs
CONFIG_KEYS = ("duration", "sr", "max_event_overlap", "max_event_dur", "ref_db", "foreground_dir",
               "background_dir", "interference_dir", "room_config", "verbose")
MAX_SCENE_SECONDS = 600.0   # longer scenes are a corrupt duration (official: 10 s)
MIN_SR, MAX_SR = 1000, 192000   # sample rates outside are corrupt
MAX_DIRECT_MS = 1000.0      # the direct-path window (official: [6, 50] ms)
MAX_ABS_DB = 200.0          # levels and SNRs beyond +-200 dB are corrupt (they overflow the gains)
EVENT_KEYS = ("label", "source_file", "source_time", "event_time", "event_duration",
              "event_position", "snr", "role")


class CorpusPaths:
    """Maps stored paths (``data/dev_set/...``) to files under ``root`` (the folder holding dev_set/).

    Stored relative paths that start with ``data/`` are taken relative to ``root``
    without that prefix; other relative paths relative to ``root``; absolute paths as is.
    """

    PREFIX = "data/"

    def __init__(self, root: PathLike = "data"):
        self.root = Path(root)

    def resolve(self, stored: PathLike) -> Path:
        s = str(stored)
        if Path(s).is_absolute():
            return Path(s)
        if s.startswith(self.PREFIX):
            s = s[len(self.PREFIX):]
        return self.root / s

    def store(self, path: PathLike) -> str:
        """Inverse of :meth:`resolve` for a path under ``root`` -> ``data/<relative>``."""
        p = Path(path)
        try:
            return self.PREFIX + p.relative_to(self.root).as_posix()
        except ValueError:
            return str(p)


@dataclasses.dataclass
class Event:
    """One SpAudSyn event (metadata keys, same order as the official files)."""

    label: Optional[str]
    source_file: str               # relative to the role's folder
    source_time: Optional[float]   # s (float), int 0 for short clips / whole-second bg offset, None = tile
    event_time: float              # onset in the mixture, s
    event_duration: float          # s, without reverb tail
    event_position: Optional[list]  # [[x, y, z]] or None (background)
    snr: float                     # dB re ref_db
    role: str                      # foreground | interference | background

    def to_dict(self) -> dict:
        return {k: copy.deepcopy(getattr(self, k)) for k in EVENT_KEYS}

    @classmethod
    def from_dict(cls, d: dict) -> "Event":
        missing = [k for k in EVENT_KEYS if k not in d]
        if missing:
            raise S5InputError(f"event {d!r} lacks keys {missing}")
        return cls(**{k: d[k] for k in EVENT_KEYS})


def make_scene_config(duration: float, sr: int, max_event_overlap: int, max_event_dur: float,
                      ref_db: float, foreground_dir: str, background_dir: Optional[str],
                      interference_dir: Optional[str], room_dir: str,
                      direct_range_ms=(6, 50)) -> dict:
    """The SpAudSyn ``config`` dict (10 keys) with a SofaRoom ``room_config``."""
    return {"duration": duration, "sr": sr, "max_event_overlap": max_event_overlap,
            "max_event_dur": max_event_dur, "ref_db": ref_db, "foreground_dir": foreground_dir,
            "background_dir": background_dir, "interference_dir": interference_dir,
            "room_config": {"module": ROOM_MODULE, "main": "SofaRoom",
                            "args": {"path": room_dir, "direct_range_ms": list(direct_range_ms)}},
            "verbose": False}


@dataclasses.dataclass
class Scene:
    """A scene = one SpAudSyn metadata file. ``room_info`` = {sofa_path, sr, nchan, nrir, rir_len, direct_range_ms}."""

    config: dict
    fg_events: List[Event]
    bg_events: List[Event]
    int_events: List[Event]
    room_info: dict

    @property
    def sr(self) -> int:
        return int(self.config["sr"])

    @property
    def n_samples(self) -> int:
        return int(self.config["duration"] * self.config["sr"])

    @property
    def direct_range_ms(self) -> list:
        return list(self.room_info.get("direct_range_ms", [6, 50]))

    def to_metadata(self) -> dict:
        """SpAudSyn ``generate_metadata`` dict (fg/int sorted by onset)."""
        def by_onset(evs):
            return [e.to_dict() for e in sorted(evs, key=lambda e: e.event_time)]

        module = self.config.get("room_config", {}).get("module", ROOM_MODULE)
        return {"config": copy.deepcopy(self.config), "fg_events": by_onset(self.fg_events),
                "bg_events": [e.to_dict() for e in self.bg_events],
                "int_events": by_onset(self.int_events),
                "room": {"module": module, "main": "SofaRoom.from_metadata",
                         "args": {"metadata": copy.deepcopy(self.room_info)}}}

    @classmethod
    def from_metadata(cls, meta: Union[dict, PathLike]) -> "Scene":
        """Parse a metadata dict or JSON file (official format; fg/int order kept as stored)."""
        where = "metadata"
        if not isinstance(meta, dict):
            where = str(meta)
            meta = read_json(meta, "scene metadata")
        try:
            config = dict(meta["config"])
            info = dict(meta["room"]["args"]["metadata"])
            if "inteference_dir" in config and "interference_dir" not in config:
                config["interference_dir"] = config.pop("inteference_dir")
            # fg_events is required (a scene without it would silently render no target);
            # an absent bg_events / int_events list means no such events
            events = {k: [Event.from_dict(e) for e in (meta[k] if k == "fg_events" else meta.get(k, []))]
                      for k in ("fg_events", "bg_events", "int_events")}
            for key in ("duration", "sr", "ref_db"):
                config[key]
            info["sofa_path"]
        except (KeyError, TypeError, ValueError) as e:
            problem = f"missing {e}" if isinstance(e, KeyError) else f"a value of the wrong type: {e}"
            raise S5InputError(f"scene metadata {where} is malformed ({problem}); "
                               "expected the SpAudSyn keys config/fg_events/bg_events/int_events/room") from e
        except S5InputError as e:
            raise S5InputError(f"scene metadata {where}: {e}") from e
        _check_values(config, info, events, where)
        unknown = [ev.label for ev in events["fg_events"] if ev.label not in CLASSES]
        if unknown:
            raise S5InputError(f"scene metadata {where}: foreground label(s) {unknown} are not among "
                               f"the 18 target classes ({', '.join(CLASSES)}); fix the metadata")
        return cls(config=config, room_info=info, **events)


def _check_values(config: dict, info: dict, events: dict, where: str) -> None:
    """Types and ranges of the values the renderer uses (a negative onset, an onset past
    the end, a NaN SNR or a string duration would otherwise render a wrong mixture)."""
    where = f"scene metadata {where}"
    fix = "fix the metadata or re-create it (stage 3, local/make_metadata)"
    duration = validate.number(config["duration"], where, "config.duration", lo=0, lo_open=True,
                               hi=MAX_SCENE_SECONDS, fix=fix)
    validate.number(config["sr"], where, "config.sr", lo=MIN_SR, hi=MAX_SR, integer=True,
                    fix=f"the recipe renders {SAMPLE_RATE} Hz scenes; {fix}")
    validate.number(config["ref_db"], where, "config.ref_db", lo=-MAX_ABS_DB, hi=MAX_ABS_DB, fix=fix)
    validate.typed(info["sofa_path"], str, where, "room.args.metadata.sofa_path", fix)
    if "direct_range_ms" in info:
        check_direct_range(info["direct_range_ms"], where, "room.args.metadata.direct_range_ms", fix)
    for kind, evs in events.items():
        for i, ev in enumerate(evs):
            key = f"{kind}[{i}]"
            if ev.label is not None:
                validate.typed(ev.label, str, where, f"{key}.label", fix)
            validate.typed(ev.source_file, str, where, f"{key}.source_file", fix)
            validate.typed(ev.role, str, where, f"{key}.role", fix)
            if ev.source_time is not None:
                validate.number(ev.source_time, where, f"{key}.source_time", lo=0, fix=fix)
            validate.number(ev.event_time, where, f"{key}.event_time", lo=0, hi=duration, hi_open=True,
                            fix=f"an onset lies within the mixture (0 <= event_time < config.duration); {fix}")
            validate.number(ev.event_duration, where, f"{key}.event_duration", lo=0, lo_open=True, hi=duration,
                            fix=f"an event lasts at most config.duration; {fix}")
            validate.number(ev.snr, where, f"{key}.snr", lo=-MAX_ABS_DB, hi=MAX_ABS_DB, fix=fix)
            if kind != "bg_events":
                _check_position(ev.event_position, where, f"{key}.event_position", fix)


def check_direct_range(pair, where: str, key: str, fix: str) -> None:
    """The direct-path window ``[before, after]`` in ms: two numbers in [0, MAX_DIRECT_MS]."""
    validate.typed(pair, list, where, key, fix)
    if len(pair) != 2:
        raise S5InputError(f"{where}: {key} = {pair!r} is not a [before, after] pair of ms; {fix}")
    for i, value in enumerate(pair):
        validate.number(value, where, f"{key}[{i}]", lo=0, hi=MAX_DIRECT_MS, fix=fix)


def _check_position(position, where: str, key: str, fix: str) -> None:
    """``[[x, y, z]]`` or ``[x, y, z]`` of finite numbers."""
    point = position[0] if isinstance(position, list) and len(position) == 1 else position
    if not (isinstance(point, list) and len(point) == 3):
        raise S5InputError(f"{where}: {key} = {position!r} is not one [x, y, z] point; {fix}")
    for c, value in zip("xyz", point):
        validate.number(value, where, f"{key}.{c}", fix=fix)


def read_metadata_list(metadata_list: PathLike) -> List[Path]:
    """``valid.json`` ([{"metadata_path": "valid/x.json"}, ...]) -> absolute metadata paths."""
    path = Path(metadata_list)
    expected = "expected a JSON list of {\"metadata_path\": ...} objects"
    entries = read_json(path, "metadata list", fix=expected)
    try:
        return [path.parent / e["metadata_path"] for e in entries]
    except (KeyError, TypeError) as e:
        raise S5InputError(f"cannot read metadata list {path}: {e}; {expected}") from e



@dataclasses.dataclass
class Rendered:
    """``mixture`` [C, T] float32; ``dry`` [n_fg, 1, T] float32 (fg_events order) or None."""

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

    def add_background(self, scene: Scene, out: np.ndarray) -> None:
        """out [C, T] float32 += the scaled backgrounds, as :meth:`background` but in float32
        without building the tiled copy (the energy of the tiles is counted per tile)."""
        t = scene.n_samples
        for ev in scene.bg_events:
            x = self.background_clip(scene, ev, out.shape[0])
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
            for start, m in tiles:
                _add_scaled(out[:, start:start + m], x[:, :m], gain)

    def room_path(self, scene: Scene) -> Path:
        return self.paths.resolve(scene.room_info["sofa_path"])


class SceneRenderer(_SceneIO):
    """Fast float32 renderer (see module docstring). Instances hold the caches; reuse them."""

    def render(self, scene: Scene, return_dry: bool = True, dry_channel: int = 0) -> Rendered:
        sr, t = scene.sr, scene.n_samples
        room_path = self.room_path(scene)
        room = self.rirs.room(room_path)
        nchan, rir_len = room.nchan, room.rir_len_at(sr)
        nfft = fft_size(t + rir_len - 1)
        ref_db = float(scene.config["ref_db"])
        events = list(scene.fg_events) + list(scene.int_events)
        clips = [self.clip(scene, ev) for ev in events]
        onsets = [int(ev.event_time * sr) for ev in events]
        kept = [max(0, min(len(x), t - o)) for x, o in zip(clips, onsets)]  # samples reaching [0, T)
        buf = np.zeros((len(events), nfft), dtype=np.float32)
        for row, x, o, k in zip(buf, clips, onsets, kept):
            row[o:o + k] = x[:k]
        spectra = scipy.fft.rfft(buf, axis=-1, workers=1)    # one batched call: [E, F]
        acc = np.zeros((nchan, nfft // 2 + 1), dtype=np.complex64)
        dry = np.zeros((len(scene.fg_events), 1, t), np.float32) if return_dry else None
        for i, (ev, x, o, k, spectrum) in enumerate(zip(events, clips, onsets, kept, spectra)):
            rir = self.rirs.spectra(room_path, ev.event_position, sr, nfft)
            n = x.shape[0]
            if k == n and n + rir_len - 1 <= nfft:   # the usual case: level from the same FFT
                energy = _spectral_energy(spectrum, rir.energy)
            elif n + rir_len - 1 <= nfft:   # clip runs past the mixture end: level from its whole spectrum
                energy = _spectral_energy(scipy.fft.rfft(x, n=nfft, workers=1), rir.energy)
            else:   # clip longer than the mixture: level over its own full convolution
                wet = scipy.signal.fftconvolve(x[None], self.rirs.rir(room_path, ev.event_position, sr), axes=-1)
                energy = float(np.sum(wet ** 2))
            gain = level_gain(energy, nchan, n + rir_len - 1, ref_db, ev.snr)
            _add_product(acc, rir.wet, spectrum, gain)
            if dry is not None and ev.role == "foreground":
                window = self.rirs.direct_window(room_path, ev.event_position, sr, scene.direct_range_ms,
                                                 dry_channel)
                _add_direct_path(dry[i, 0], x[:k], window, gain, o)
        if events:
            mixture = scipy.fft.irfft(acc, n=nfft, axis=-1, workers=1, overwrite_x=True)   # acc is scratch
            mixture = np.ascontiguousarray(mixture[:, :t])
        else:   # background only (tagger scenes may have no event at all): no transform
            mixture = np.zeros((nchan, t), np.float32)
        self.add_background(scene, mixture)
        return Rendered(mixture=mixture, dry=dry)


def _add_direct_path(target: np.ndarray, clip: np.ndarray, window: DirectWindow, gain: float,
                     onset: int) -> None:
    """target[onset + s:] += gain * (clip * taps), truncated at the end of target [T].

    The direct-path RIR is zero outside ``taps`` [W] (from sample s = window.start), so this
    short convolution (overlap-add, blocks of a few W) equals the full-length one.
    """
    start = onset + window.start
    need = target.shape[0] - start
    if need <= 0 or clip.shape[0] == 0:
        return
    conv = scipy.signal.oaconvolve(clip[:need], window.taps)[:need]
    _add_scaled(target[start:start + conv.shape[0]], conv, gain)


def _add_scaled(out: np.ndarray, x: np.ndarray, scale: float) -> None:
    """out += scale * x in place, in one pass over the memory (float32 arrays)."""
    torch.from_numpy(out).add_(torch.from_numpy(x), alpha=scale)


def _add_product(acc: np.ndarray, a: np.ndarray, b: np.ndarray, scale: float) -> None:
    """acc [C, F] += scale * a [C, F] * b [F] in place, in one pass (complex64 arrays)."""
    torch.from_numpy(acc).addcmul_(torch.from_numpy(a), torch.from_numpy(b), value=scale)


def _spectral_energy(spectrum: np.ndarray, weights: np.ndarray) -> float:
    """sum_k |X_k|^2 * weights_k (Parseval energy of the multichannel convolution); the
    squares in float32, their weighted sum in float64."""
    parts = np.square(spectrum.view(np.float32))        # re^2, im^2 interleaved: [2F]
    return float(np.dot(parts[0::2] + parts[1::2], weights))


def _sum_of_squares(x: np.ndarray) -> float:
    """sum(x**2) accumulated in float64 (x float32)."""
    return float(np.einsum("ij,ij->", x, x, dtype=np.float64))


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
