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

Computation: the convolutions with these kernels compute a windowed DFT, so when the
kernels hold their canonical values (always, unless someone overwrote them) both
modules compute the same transform with ``torch.stft`` / ``torch.fft.irfft`` instead:
~20x fewer flops, same values up to float32 rounding. Whether the kernels are canonical
is checked once per kernel tensor version (:func:`kernels_are_canonical`); otherwise
(changed values, trainable kernels, half precision) the convolution path runs.
"""
from __future__ import annotations

import functools
from typing import Dict, Tuple

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


@functools.lru_cache(maxsize=4)
def canonical_kernels(n_fft: int) -> Dict[str, torch.Tensor]:
    """The float32 kernels a fresh STFT/ISTFT of this ``n_fft`` holds (CPU; built once)."""
    n_bins = n_fft // 2 + 1
    window = hann_window(n_fft)
    stft_kernel = (dft_matrix(n_fft)[:, :n_bins] * window[:, None]).T
    istft_kernel = (dft_matrix(n_fft, inverse=True) / n_fft * window[None, :]).T
    return {name: torch.from_numpy(k.astype(np.float32)) for name, k in (
        ("stft_real", np.real(stft_kernel)[:, None, :]), ("stft_imag", np.imag(stft_kernel)[:, None, :]),
        ("istft_real", np.real(istft_kernel)[:, :, None]), ("istft_imag", np.imag(istft_kernel)[:, :, None]))}


@functools.lru_cache(maxsize=8)
def _window(n_fft: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Periodic Hann window [n_fft] in ``dtype`` (rounded once from float64). Made outside
    inference mode even when first asked inside it (a decode), so that the cached tensor can
    later take part in training, which autograd refuses for inference tensors."""
    with torch.inference_mode(False):
        return torch.from_numpy(hann_window(n_fft)).to(device=device, dtype=dtype)


def kernels_are_canonical(module: nn.Module, names: Tuple[str, str], n_fft: int) -> bool:
    """True when ``module.conv_real/conv_imag`` hold the canonical kernels ``names`` of
    :func:`canonical_kernels` in float32 or float64 and are frozen, so that the FFT path
    computes the same transform. Cached per (storage, version) of the two weights: a
    ``load_state_dict`` or any in-place change bumps the version and triggers a new check."""
    weights = (module.conv_real.weight, module.conv_imag.weight)
    if any(w.requires_grad or w.dtype not in (torch.float32, torch.float64) for w in weights):
        return False
    key = tuple((w.data_ptr(), w._version, w.dtype, w.device) for w in weights)
    if getattr(module, "_canonical_key", None) != key:
        canon = canonical_kernels(n_fft)
        module._canonical = all(
            torch.equal(w.detach(), canon[name].to(device=w.device, dtype=w.dtype)) for w, name in zip(weights, names))
        module._canonical_key = key
    return module._canonical


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
        self.use_fft = True      # False: always the convolutions (the official code path)
        n_bins = n_fft // 2 + 1
        kernel = (dft_matrix(n_fft)[:, :n_bins] * hann_window(n_fft)[:, None]).T   # [F, n_fft]
        self.conv_real = _frozen_conv1d(np.real(kernel)[:, None, :], hop_length)
        self.conv_imag = _frozen_conv1d(np.imag(kernel)[:, None, :], hop_length)

    def forward(self, waveform: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """waveform [..., L] -> (real, imag), each [..., frames, F]."""
        lead = waveform.shape[:-1]
        if waveform.dtype in (torch.float32, torch.float64) \
                and self.use_fft and kernels_are_canonical(self, ("stft_real", "stft_imag"), self.n_fft):
            spec = torch.stft(waveform.reshape(-1, waveform.shape[-1]), self.n_fft, self.hop_length,
                              window=_window(self.n_fft, waveform.dtype, waveform.device), center=True,
                              pad_mode="reflect", return_complex=True)                # [N, F, frames]
            spec = torch.view_as_real(spec.transpose(1, 2))                             # [N, frames, F, 2]
            real, imag = spec.unbind(-1)
            return real.reshape(*lead, *real.shape[1:]), imag.reshape(*lead, *imag.shape[1:])
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
        self.use_fft = True      # False: always the convolutions (the official code path)
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
        if real.dtype in (torch.float32, torch.float64) and imag.dtype == real.dtype \
                and self.use_fft and kernels_are_canonical(self, ("istft_real", "istft_imag"), self.n_fft):
            spec = torch.complex(real.reshape(-1, n_frames, n_bins), imag.reshape(-1, n_frames, n_bins))
            frames = torch.fft.irfft(spec, n=self.n_fft, dim=-1) * _window(self.n_fft, real.dtype, real.device)
            frames = frames.transpose(1, 2)                                   # [N, n_fft, frames]
        else:
            frames = self._conv_frames(real.reshape(-1, n_frames, n_bins), imag.reshape(-1, n_frames, n_bins))
        y = self._overlap_add(frames)
        window_sum = self._overlap_add(self.ola_window[None, :, None].to(y.dtype).repeat(1, 1, n_frames))[0]
        y = y / torch.clamp(window_sum, min=1e-11)[None, :]
        start = self.n_fft // 2
        y = y[:, start:start + length]
        return y.reshape(*lead, y.shape[-1])

    def _conv_frames(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        """[N, frames, F] -> windowed inverse DFT of each frame [N, n_fft, frames] by 1x1 convolution."""
        real, imag = real.transpose(1, 2), imag.transpose(1, 2)            # [N, F, frames]
        # full spectrum from Hermitian symmetry: bins F..n_fft-1 mirror bins n_fft/2-1..1
        full_real = torch.cat((real, torch.flip(real[:, 1:-1, :], dims=[1])), dim=1)
        full_imag = torch.cat((imag, -torch.flip(imag[:, 1:-1, :], dims=[1])), dim=1)
        return self.conv_real(full_real) - self.conv_imag(full_imag)        # [N, n_fft, frames]
