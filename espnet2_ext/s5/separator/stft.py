"""STFT / ISTFT as frozen convolutions, numerically equal to ``torchlibrosa`` 0.1.

The official ResUNet30 stores the DFT kernels in its checkpoint, so we keep the same
layout and key names: ``stft.conv_real.weight`` / ``stft.conv_imag.weight``
[F, 1, n_fft] (F = n_fft // 2 + 1) are frozen ``nn.Parameter``s, ``istft.conv_real.weight``
/ ``istft.conv_imag.weight`` [n_fft, n_fft, 1] likewise, and ``istft.ola_window`` [n_fft]
(the squared window for the overlap-add normalisation) is a buffer.

The kernel values are built exactly as torchlibrosa does (complex128 powers of the
twiddle factor times a periodic Hann window, cast once to float32), so a fresh model has
bit-identical buffers to the official one.

Shapes: ``STFT``: waveform [..., L] -> (real, imag) each [..., frames, F], with
``frames = L // hop + 1`` (centred, reflect padding). ``ISTFT``: (real, imag)
[..., frames, F] -> waveform [..., length].
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import scipy.signal
import torch
import torch.nn.functional as F
from torch import nn


def hann_window(n: int) -> np.ndarray:
    """Periodic Hann window [n] float64 (librosa/scipy ``get_window('hann', n, fftbins=True)``)."""
    return scipy.signal.get_window("hann", n, fftbins=True)


def dft_matrix(n: int, inverse: bool = False) -> np.ndarray:
    """[n, n] complex128 matrix W[k, m] = exp(-+2 pi i / n) ** (k m), as torchlibrosa builds it.

    ``inverse`` flips the sign of the exponent (no 1/n scaling here)."""
    k, m = np.meshgrid(np.arange(n), np.arange(n))
    omega = np.exp((2j if inverse else -2j) * np.pi / n)
    return np.power(omega, k * m)


def _frozen_conv1d(weight: np.ndarray, stride: int = 1) -> nn.Conv1d:
    """Bias-free Conv1d whose float32 weight is ``weight`` [out, in, k] and not trained."""
    out_ch, in_ch, ksize = weight.shape
    conv = nn.Conv1d(in_ch, out_ch, ksize, stride=stride, bias=False)
    conv.weight = nn.Parameter(torch.from_numpy(weight.astype(np.float32)), requires_grad=False)
    return conv


class STFT(nn.Module):
    """Centred STFT (reflect padding, periodic Hann, win = n_fft) by strided convolution."""

    def __init__(self, n_fft: int = 1024, hop_length: int = 160):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        n_bins = n_fft // 2 + 1
        kernel = (dft_matrix(n_fft)[:, :n_bins] * hann_window(n_fft)[:, None]).T   # [F, n_fft]
        self.conv_real = _frozen_conv1d(np.real(kernel)[:, None, :], hop_length)
        self.conv_imag = _frozen_conv1d(np.imag(kernel)[:, None, :], hop_length)

    def forward(self, waveform: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """waveform [..., L] -> (real, imag), each [..., frames, F]."""
        lead = waveform.shape[:-1]
        x = waveform.reshape(-1, 1, waveform.shape[-1])
        half = self.n_fft // 2
        x = F.pad(x, (half, half), mode="reflect")
        real = self.conv_real(x).transpose(1, 2)             # [N, frames, F]
        imag = self.conv_imag(x).transpose(1, 2)
        return real.reshape(*lead, *real.shape[1:]), imag.reshape(*lead, *imag.shape[1:])


class ISTFT(nn.Module):
    """Inverse of :class:`STFT`: per-frame inverse DFT by 1x1 convolution, overlap-add,
    division by the summed squared window, centre trim."""

    def __init__(self, n_fft: int = 1024, hop_length: int = 160):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        window = hann_window(n_fft)
        kernel = (dft_matrix(n_fft, inverse=True) / n_fft * window[None, :]).T        # [n_fft, n_fft]
        self.conv_real = _frozen_conv1d(np.real(kernel)[:, :, None])
        self.conv_imag = _frozen_conv1d(np.imag(kernel)[:, :, None])
        self.register_buffer("ola_window", torch.from_numpy((window ** 2).astype(np.float32)))

    def _overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [N, n_fft, T] -> summed signal [N, (T - 1) * hop + n_fft]."""
        n_samples = (frames.shape[-1] - 1) * self.hop_length + self.n_fft
        y = F.fold(frames, output_size=(1, n_samples), kernel_size=(1, self.n_fft),
                   stride=(1, self.hop_length))
        return y[:, 0, 0, :]

    def forward(self, real: torch.Tensor, imag: torch.Tensor, length: int) -> torch.Tensor:
        """(real, imag) [..., frames, F] -> waveform [..., length]."""
        lead, (n_frames, n_bins) = real.shape[:-2], real.shape[-2:]
        real = real.reshape(-1, n_frames, n_bins).transpose(1, 2)          # [N, F, frames]
        imag = imag.reshape(-1, n_frames, n_bins).transpose(1, 2)
        # full spectrum from Hermitian symmetry: bins F..n_fft-1 mirror bins n_fft/2-1..1
        full_real = torch.cat((real, torch.flip(real[:, 1:-1, :], dims=[1])), dim=1)
        full_imag = torch.cat((imag, -torch.flip(imag[:, 1:-1, :], dims=[1])), dim=1)
        frames = self.conv_real(full_real) - self.conv_imag(full_imag)      # [N, n_fft, frames]
        y = self._overlap_add(frames)
        window_sum = self._overlap_add(self.ola_window[None, :, None].repeat(1, 1, n_frames))[0]
        y = y / torch.clamp(window_sum, min=1e-11)[None, :]
        start = self.n_fft // 2
        y = y[:, start:start + length]
        return y.reshape(*lead, y.shape[-1])
