"""Small listening copies and spectrogram images of the report's waveforms.

Audio: each clip is cut to ``max_seconds``, resampled to ``AUDIO_RATE`` (16 kHz),
peak-normalised to −1 dBFS (an all-zero clip stays silent) and written as

* ``mp3`` (default): MPEG layer III through libsndfile, constant 48 kbit/s (6 KB per second);
* ``wav``: 16-bit PCM (32 KB per second).

Spectrogram: |STFT|² of the same 16 kHz clip (512-point Hann window, hop 256), averaged
into at most ``SPEC_WIDTH`` time columns x ``SPEC_HEIGHT`` mel-spaced bands, shown in dB over an ``SPEC_RANGE_DB``
range below the clip's maximum, low frequencies at the bottom, and saved as an 8-bit
palette PNG with matplotlib's ``magma`` colours (Pillow, matplotlib's image backend):
at most one byte per pixel plus the palette (< ``SPEC_MAX_BYTES``), typically 5–20 KB.
"""
from __future__ import annotations

from math import gcd
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import soundfile as sf

from espnet2_ext.fileio import atomic_path
from espnet2_ext.s5.official import SAMPLE_RATE

AUDIO_RATE = SAMPLE_RATE // 2      # 16 kHz listening copies
AUDIO_FORMATS: Dict[str, Tuple[str, dict]] = {   # name -> (suffix, soundfile.write arguments)
    "mp3": (".mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III", "bitrate_mode": "CONSTANT",
                     "compression_level": 0.75}),   # libsndfile: 0.75 -> 48 kbit/s at 16 kHz
    "wav": (".wav", {"format": "WAV", "subtype": "PCM_16"}),
}
AUDIO_BYTES_PER_SECOND = {"mp3": 6_100, "wav": 2 * AUDIO_RATE}   # upper bounds (plus headers)
PEAK = 10 ** (-1 / 20)        # −1 dBFS
SPEC_WIDTH, SPEC_HEIGHT, SPEC_RANGE_DB = 320, 96, 80.0
SPEC_MAX_BYTES = SPEC_WIDTH * (SPEC_HEIGHT + 1) + 3 * 256 + 1_000   # palette PNG, zlib worst case
N_FFT, HOP = 512, 256
SILENT_DB = -100.0


def listening_copy(wav: np.ndarray, sr: int, max_seconds: float) -> np.ndarray:
    """wav [T] at ``sr`` -> [T'] float32 at ``AUDIO_RATE``, cut and peak-normalised."""
    from scipy.signal import resample_poly

    wav = np.asarray(wav, dtype=np.float64)[: int(round(max_seconds * sr))]
    if sr != AUDIO_RATE:
        g = gcd(AUDIO_RATE, sr)
        wav = resample_poly(wav, AUDIO_RATE // g, sr // g)
    peak = np.max(np.abs(wav)) if wav.size else 0.0
    if peak > 0:
        wav = wav * (PEAK / peak)
    return wav.astype(np.float32)


def write_audio(path: Path, clip: np.ndarray, fmt: str) -> None:
    """Write a 16 kHz mono clip [T] in ``fmt`` (a key of AUDIO_FORMATS) atomically."""
    with atomic_path(path) as tmp:
        sf.write(str(tmp), clip, AUDIO_RATE, **AUDIO_FORMATS[fmt][1])


def spectrogram_db(clip: np.ndarray) -> np.ndarray:
    """Pooled power spectrogram in dB: clip [T] -> [H <= SPEC_HEIGHT, W <= SPEC_WIDTH], row 0 = low."""
    clip = np.asarray(clip, dtype=np.float64)
    if clip.size < N_FFT:
        clip = np.pad(clip, (0, N_FFT - clip.size))
    n_frames = 1 + (clip.size - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(
        clip, shape=(n_frames, N_FFT), strides=(clip.strides[0] * HOP, clip.strides[0]))
    power = np.abs(np.fft.rfft(frames * np.hanning(N_FFT), axis=-1)) ** 2   # [frames, bins]
    time_edges = np.linspace(0, n_frames, min(SPEC_WIDTH, n_frames) + 1)
    power = _pool(power, time_edges, axis=0)
    mel = np.linspace(0, _mel(AUDIO_RATE / 2), SPEC_HEIGHT + 1)
    freq_edges = (700 * (10 ** (mel / 2595) - 1)) / (AUDIO_RATE / 2) * (power.shape[1] - 1)
    power = _pool(power, freq_edges, axis=1)
    return 10 * np.log10(power.T + 1e-12)


def _mel(hz: float) -> float:
    return 2595 * np.log10(1 + hz / 700)


def _pool(x: np.ndarray, edges: np.ndarray, axis: int) -> np.ndarray:
    """Average ``x`` over the groups [edges[k], edges[k+1]) of ``axis`` (empty groups merged)."""
    edges = np.unique(np.clip(np.round(edges).astype(int), 0, x.shape[axis]))
    edges = edges[edges < x.shape[axis]]
    sizes = np.diff(np.append(edges, x.shape[axis]))
    return np.add.reduceat(x, edges, axis=axis) / sizes.reshape((-1, 1) if axis == 0 else (1, -1))


def write_spectrogram(path: Path, clip: np.ndarray) -> None:
    """Save the spectrogram of a clip [T] as a small palette PNG (atomic)."""
    from matplotlib import colormaps
    from PIL import Image

    db = spectrogram_db(clip)
    top = db.max()
    index = np.clip((db - (top - SPEC_RANGE_DB)) / SPEC_RANGE_DB, 0.0, 1.0) * 255
    if top < SILENT_DB:              # an all-zero clip: a dark image
        index[:] = 0
    image = Image.fromarray(np.round(index[::-1]).astype(np.uint8))   # mode L; the palette makes it P
    palette = (colormaps["magma"](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    image.putpalette(palette.tobytes())
    with atomic_path(path, suffix=".png.part") as tmp:
        image.save(tmp, format="PNG", optimize=True)
