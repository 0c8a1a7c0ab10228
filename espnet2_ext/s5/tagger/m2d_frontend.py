"""Log-mel frontend of M2D, numerically equal to nnAudio's ``MelSpectrogram``.

The official PortableM2D uses ``nnAudio.features.MelSpectrogram`` (STFT as two
``conv1d`` with windowed sine/cosine kernels, magnitude, ``** 2``, Slaney mel
matrix). This module rebuilds the same kernels bit for bit and keeps nnAudio's
buffer names (``mel_basis``, ``stft.wsin``, ``stft.wcos``, ``stft.window_mask``)
so that official tagger checkpoints load strictly.

Shapes: waveform [B, T] -> mel power [B, n_mels, frames], frames = T // hop + 1.

Computation: the two convolutions compute a windowed DFT, so while the kernels hold the values
nnAudio gives them (always, unless someone overwrote the buffers) :class:`ConvStft` computes the
same magnitudes with ``torch.stft``: about 20x fewer flops, equal up to float32 rounding.
Whether the kernels are canonical is checked once per buffer version; otherwise (changed
values, half precision) the convolutions run.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy.signal import get_window
from torch import nn

from espnet2_ext.s5.official import M2D_SAMPLE_RATES

# float32 machine epsilon, added before the log (``torch.finfo().eps`` in the official code)
LOG_EPS = float(torch.finfo(torch.float32).eps)


@dataclass(frozen=True)
class MelConfig:
    """STFT / mel settings of one M2D sample-rate variant (from the weight folder name)."""

    sample_rate: int
    n_fft: int
    win_length: int
    hop_length: int
    n_mels: int
    f_min: float
    f_max: float


# The two variants known to PortableM2D, keyed by the folder-name token (``p16k`` / ``p32k``).
MEL_CONFIGS = {        # f_max: the Nyquist frequency
    "16k": MelConfig(M2D_SAMPLE_RATES["16k"], 400, 400, 160, 80, 50.0, M2D_SAMPLE_RATES["16k"] / 2),
    "32k": MelConfig(M2D_SAMPLE_RATES["32k"], 800, 800, 320, 80, 50.0, M2D_SAMPLE_RATES["32k"] / 2),
}


# ---------------------------------------------------------------------------------------
# Slaney mel filterbank (librosa 0.7 algorithm, as vendored by nnAudio)
# ---------------------------------------------------------------------------------------
_F_SP = 200.0 / 3            # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0         # start of the log part
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz: float) -> float:
    """Slaney mel scale (linear below 1 kHz, logarithmic above)."""
    if hz >= _MIN_LOG_HZ:
        return _MIN_LOG_MEL + np.log(hz / _MIN_LOG_HZ) / _LOGSTEP
    return hz / _F_SP


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel` for an array of mel values."""
    hz = _F_SP * mels
    log_part = mels >= _MIN_LOG_MEL
    hz[log_part] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels[log_part] - _MIN_LOG_MEL))
    return hz


def slaney_mel_filterbank(sample_rate: int, n_fft: int, n_mels: int,
                          f_min: float, f_max: float) -> np.ndarray:
    """Area-normalised triangular mel filters, float32 [n_mels, n_fft // 2 + 1]."""
    weights = np.zeros((n_mels, n_fft // 2 + 1), dtype=np.float32)
    fft_freqs = np.linspace(0, float(sample_rate) / 2, n_fft // 2 + 1, endpoint=True)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    return weights


# ---------------------------------------------------------------------------------------
# conv1d STFT
# ---------------------------------------------------------------------------------------
def fourier_kernels(n_fft: int, win_length: int):
    """Windowed DFT kernels as nnAudio builds them.

    Returns ``(wsin, wcos, window)``: float32 tensors [n_fft//2+1, 1, n_fft] (the kernels
    already multiplied by the window) and the periodic Hann window [n_fft].
    """
    n_bins = n_fft // 2 + 1
    window = get_window("hann", int(win_length), fftbins=True)
    pad = (n_fft - win_length) // 2
    window = np.pad(window, (pad, n_fft - win_length - pad)).astype(np.float32)
    s = np.arange(0, n_fft, 1.0)
    k = np.arange(n_bins, dtype=np.float64)[:, None]
    phase = 2 * np.pi * k * s / n_fft                          # same op order as nnAudio
    sin = torch.from_numpy(np.sin(phase).astype(np.float32)).unsqueeze(1)
    cos = torch.from_numpy(np.cos(phase).astype(np.float32)).unsqueeze(1)
    window_t = torch.from_numpy(window)
    return sin * window_t, cos * window_t, window_t


@functools.lru_cache(maxsize=4)
def canonical_buffers(n_fft: int, win_length: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(wsin, wcos, window_mask)`` as a fresh :class:`ConvStft` holds them (CPU, built once)."""
    wsin, wcos, window = fourier_kernels(n_fft, win_length)
    return wsin, wcos, window[None, :, None]


class ConvStft(nn.Module):
    """Magnitude STFT by strided conv1d (nnAudio ``STFT``, output_format 'Magnitude'),
    computed by ``torch.stft`` while the kernels are nnAudio's (module docstring).

    Input [B, T] -> magnitude [B, n_fft//2+1, T // hop + 1] (centre reflect padding).
    """

    def __init__(self, n_fft: int, win_length: int, hop_length: int):
        super().__init__()
        self.n_fft = n_fft
        self.win_length = win_length
        self.hop_length = hop_length
        self.use_fft = True      # False: always the convolutions (the official code path)
        wsin, wcos, window = fourier_kernels(n_fft, win_length)
        self.register_buffer("wsin", wsin)
        self.register_buffer("wcos", wcos)
        self.register_buffer("window_mask", window[None, :, None])   # [1, n_fft, 1]

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        pad = self.n_fft // 2
        if wav.shape[-1] <= pad:
            raise ValueError(f"waveform of {wav.shape[-1]} samples is too short for "
                             f"reflect padding of {pad} samples")
        if self.fft_applies(wav):
            return self.power_frames(wav).sqrt().transpose(1, 2)
        x = F.pad(wav.unsqueeze(1), (pad, pad), mode="reflect")     # [B, 1, T + n_fft]
        imag = F.conv1d(x, self.wsin, stride=self.hop_length)
        real = F.conv1d(x, self.wcos, stride=self.hop_length)
        return torch.sqrt(real.pow(2) + imag.pow(2))

    def fft_applies(self, wav: torch.Tensor) -> bool:
        """Whether :meth:`power_frames` computes this module's transform for ``wav``."""
        return self.use_fft and wav.dtype in (torch.float32, torch.float64) and self.kernels_are_canonical()

    def power_frames(self, wav: torch.Tensor) -> torch.Tensor:
        """|STFT|^2 by FFT, frame-major: [B, T] -> [B, T // hop + 1, n_fft//2+1] (the caller
        checks :meth:`fft_applies`). Framing by a strided view, one windowing pass, a real FFT
        and re^2 + im^2: the cheapest order on CPU (``torch.stft`` + ``abs`` costs ~1.5x)."""
        pad = self.n_fft // 2
        x = F.pad(wav.unsqueeze(1), (pad, pad), mode="reflect")[:, 0]     # [B, T + n_fft]
        frames = x.unfold(-1, self.n_fft, self.hop_length) * self.window_mask[0, :, 0].to(wav.dtype)
        spec = torch.fft.rfft(frames, dim=-1)                            # [B, frames, F]
        return spec.real.square() + spec.imag.square()

    def kernels_are_canonical(self) -> bool:
        """True while ``wsin``/``wcos``/``window_mask`` hold nnAudio's values (float32 or float64).
        Cached per (storage, version) of the buffers: ``load_state_dict`` or any in-place change
        bumps the version and triggers a new check."""
        buffers = (self.wsin, self.wcos, self.window_mask)
        if any(b.dtype not in (torch.float32, torch.float64) for b in buffers):
            return False
        key = tuple((b.data_ptr(), b._version, b.dtype, b.device) for b in buffers)
        if getattr(self, "_canonical_key", None) != key:
            self._canonical = all(torch.equal(b, c.to(device=b.device, dtype=b.dtype))
                                  for b, c in zip(buffers, canonical_buffers(self.n_fft, self.win_length)))
            self._canonical_key = key
        return self._canonical


class M2dMelSpectrogram(nn.Module):
    """Mel power spectrogram: ``mel_basis @ |STFT|**2`` (not trainable).

    Input [B, T] float -> [B, n_mels, T // hop + 1].
    """

    def __init__(self, cfg: MelConfig = MEL_CONFIGS["32k"]):
        super().__init__()
        self.cfg = cfg
        self.stft = ConvStft(cfg.n_fft, cfg.win_length, cfg.hop_length)
        mel = slaney_mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max)
        self.register_buffer("mel_basis", torch.from_numpy(mel))

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        if self.stft.fft_applies(wav):      # [B, frames, F] @ [F, n_mels], then mel-major
            return torch.matmul(self.stft.power_frames(wav), self.mel_basis.T.to(wav.dtype)).transpose(1, 2)
        # sqrt then square, as nnAudio does (power=2 applied to the magnitude)
        return torch.matmul(self.mel_basis, self.stft(wav) ** 2)


def log_mel(mel: torch.Tensor) -> torch.Tensor:
    """``log(mel + float32 eps)`` with a channel axis: [B, n_mels, frames] -> [B, 1, n_mels, frames]."""
    return (mel + LOG_EPS).log().unsqueeze(1)
