"""Signal-to-noise ratio exactly as the official baseline computes it.

The baseline uses torchmetrics ``signal_noise_ratio(est, ref, zero_mean=False)``:

    SNR(est, ref) = 10 log10( (sum_t ref^2 + eps) / (sum_t (ref - est)^2 + eps) )

with ``eps = torch.finfo(dtype).eps`` (float32: 1.19e-7). No zero-mean, no
scale invariance, no clamping. The official code calls this quantity "SDR".
Both the training loss (class-aware PIT) and the CAPI-SDRi metric use it.
"""
from __future__ import annotations

import torch


def snr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """SNR in dB over the last (time) axis: [..., T], [..., T] -> [...].

    Computed in the inputs' dtype, like torchmetrics; differentiable.
    """
    eps = torch.finfo(est.dtype).eps
    signal = torch.sum(ref ** 2, dim=-1)
    noise = torch.sum((ref - est) ** 2, dim=-1)
    return 10 * torch.log10((signal + eps) / (noise + eps))


def pairwise_snr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """SNR of every (reference, estimate) pair: est [..., N, T], ref [..., M, T] -> [..., M, N].

    Entry ``[..., i, j]`` is ``snr(est[..., j, :], ref[..., i, :])`` (reference i,
    estimate j), the layout of the permutation matrices in the losses and metrics.
    """
    return snr(est.unsqueeze(-3), ref.unsqueeze(-2))
