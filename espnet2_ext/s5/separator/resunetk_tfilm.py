"""ResUNetK with Time-FiLM: the label condition of each slot modulated over time by its activity.

The baseline ResUNet30 biases every BatchNorm of its U-Net with one FiLM beta per mixture,
``beta = W · e(q)`` with ``e`` the label embedding of the query q [B, 54] (3 slots x 18). Here
each beta also varies in time:

    q(t)      = [q_1 · a_1(t), q_2 · a_2(t), q_3 · a_3(t)]           (slot one-hots x activity)
    beta(t)   = W · e(q) + W_t · e_t(q(t))                            [B, C, T_level, 1]

with a_s(t) in [0, 1] the activity of slot s on the 20 ms grid of :mod:`espnet2_ext.s5.activity`,
``e_t`` a second embedding (Linear + LayerNorm + ReLU) applied frame by frame and ``W_t`` one
Linear per beta (:class:`FiLM` layout), **initialised to zero**: an untrained Time-FiLM
separator is exactly the baseline one, and a baseline checkpoint loads into it (non-strictly).
One activity frame is ``ACTIVITY_HOP / HOP_LENGTH = 4`` STFT frames; a U-Net level that
downsamples time by ``f`` gets ``W_t · e_t(q(t))`` repeated ``4 / f`` times (f < 4) or averaged
over ``f / 4`` frames (f > 4), on the same zero-padded time axis as the U-Net (frames past the
mixture are inactive).

Training uses the synthesizer's oracle activity (``activity_noise``: Gaussian noise of that
standard deviation is added and the result clipped to [0, 1], in training only, so that the
separator tolerates the soft, imperfect tracks of an SED); decoding uses the SED tagger's
frame probability of each slot's class (:class:`espnet2_ext.s5.pipeline.S5Pipeline`).
Follows the Time-FiLM of CPJKU (DCASE2025 Task 4, arXiv 2507.17297); our own code.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from espnet2_ext.s5.activity import ACTIVITY_HOP
from espnet2_ext.s5.separator.resunet_blocks import FiLM, FilmBetas, film_meta
from espnet2_ext.s5.separator.resunetk import (
    CENTER, CONDITION_SIZE, DECODER, ENCODER, HOP_LENGTH, ResUNet30, source_mask_of,
)

STFT_FRAMES_PER_ACTIVITY_FRAME = ACTIVITY_HOP // HOP_LENGTH     # 4
assert ACTIVITY_HOP % HOP_LENGTH == 0


def film_time_factors() -> Dict[str, int]:
    """Time downsampling factor of the feature map each beta applies to, by module-path prefix:
    encoder block i at the product of the earlier time pools, the centre at 32, a decoder
    block's own betas at its input factor and its ``conv_block2`` at the upsampled factor."""
    factors, f = {}, 1
    for name, *_, pool in ENCODER:
        factors[name] = f
        f *= pool[0]
    factors[CENTER[0]] = f
    for name, *_, up in DECODER:
        factors[f"{name}->beta1"] = factors[f"{name}->beta2"] = f
        f //= up[0]
        factors[f"{name}->conv_block2"] = f
    return factors


def factor_of(path: str, factors: Dict[str, int]) -> int:
    """The factor of the longest prefix of ``path`` ('a->b->beta1') listed in ``factors``."""
    parts = path.split("->")
    for n in range(len(parts), 0, -1):
        key = "->".join(parts[:n])
        if key in factors:
            return factors[key]
    raise KeyError(f"no time factor for FiLM path {path!r}")


def to_level(beta: torch.Tensor, factor: int) -> torch.Tensor:
    """Betas on the activity grid [B, C, n] -> on a level downsampled by ``factor`` [B, C, n * 4 / factor, 1]."""
    r = STFT_FRAMES_PER_ACTIVITY_FRAME
    if factor < r:
        beta = beta.repeat_interleave(r // factor, dim=-1)
    elif factor > r:
        beta = F.avg_pool1d(beta, factor // r)
    return beta[..., None]


def add_into(betas: FilmBetas, path: str, value: torch.Tensor) -> None:
    """betas[a][b][leaf] += value for ``path`` 'a->b->leaf' (a new tensor, not in place)."""
    *parents, leaf = path.split("->")
    node = betas
    for p in parents:
        node = node[p]
    node[leaf] = node[leaf] + value


class ResUNet30TimeFiLM(ResUNet30):
    """ResUNet30 with Time-FiLM (see module docstring).

    Args: those of :class:`ResUNet30`, plus ``activity_noise`` (training-time noise std on the
    activity tracks, default 0.1).
    """

    #: items carry the slots' frame activity (the task adds ``activity`` to the data names)
    needs_activity = True

    def __init__(self, input_channels: int = 4, output_channels: int = 1, target_sources_num: int = 3,
                 label_len: int = 54, base_channels: int = 32, activity_noise: float = 0.1):
        super().__init__(input_channels, output_channels, target_sources_num, label_len, base_channels)
        self.activity_noise = float(activity_noise)
        self.activity_embedding = nn.Sequential(
            nn.Linear(label_len, CONDITION_SIZE), nn.LayerNorm(CONDITION_SIZE), nn.ReLU())
        self.time_film = FiLM(film_meta(self.base), CONDITION_SIZE)
        for layer in self.time_film.values():
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.time_factors = {name: factor_of(name, film_time_factors()) for name in self.time_film}
        for name, *_ in DECODER:           # never reach the output, like the static beta2
            self.time_film[f"{name}->beta2"].requires_grad_(False)

    def activity_grid(self, activity: torch.Tensor, n_samples: int) -> torch.Tensor:
        """activity [B, S, K] -> [B, S, n] on the U-Net's padded time axis (n = padded STFT frames / 4):
        cut or zero-padded; noised in training (see ``activity_noise``)."""
        n_stft = n_samples // HOP_LENGTH + 1
        ratio = self.base.time_downsample_ratio
        n = math.ceil(n_stft / ratio) * ratio // STFT_FRAMES_PER_ACTIVITY_FRAME
        a = activity.to(torch.float64 if activity.dtype == torch.float64 else torch.float32)[..., :n]
        if self.training and self.activity_noise > 0:
            a = (a + self.activity_noise * torch.randn_like(a)).clamp(0, 1)
        return F.pad(a, (0, n - a.shape[-1]))

    def time_betas(self, label_vector: torch.Tensor, activity: torch.Tensor, n_samples: int) -> FilmBetas:
        """The static betas of the label query plus the activity-driven, time-varying ones."""
        betas = self.film(self.label_embedding(label_vector))
        b, s = label_vector.shape[0], self.target_sources_num
        a = self.activity_grid(activity, n_samples)                                   # [B, S, n]
        slots = label_vector.reshape(b, s, 1, -1)                                     # [B, S, 1, 18]
        query_t = (slots * a[..., None].to(slots.dtype)).permute(0, 2, 1, 3).reshape(b, a.shape[-1], -1)
        condition = self.activity_embedding(query_t)                                  # [B, n, 512]
        for name, layer in self.time_film.items():
            add_into(betas, name, to_level(layer(condition).transpose(1, 2), self.time_factors[name]))
        return betas

    def separate_with_mask(self, mixture: torch.Tensor, label_vector: torch.Tensor,
                           activity: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """mixture [B, C, L], label_vector [B, label_len], activity [B, S, K] (per-slot activity in
        [0, 1] on the 20 ms grid) -> (waveform [B, S, O, L], source_mask [B, S])."""
        if activity is None:
            raise ValueError("the Time-FiLM separator (resunetk_tfilm) needs each slot's activity "
                             "[B, S, K]: decode it with an SED tagger (m2d_sed_4c)")
        if mixture.dim() != 3 or mixture.shape[1] != self.input_channels:
            raise ValueError(f"mixture must be [B, {self.input_channels}, L], got {tuple(mixture.shape)}")
        if label_vector.shape != (mixture.shape[0], self.label_len) or activity.dim() != 3 \
                or activity.shape[:2] != (mixture.shape[0], self.target_sources_num):
            raise ValueError(f"label_vector must be [{mixture.shape[0]}, {self.label_len}] and activity "
                             f"[{mixture.shape[0]}, {self.target_sources_num}, K], got "
                             f"{tuple(label_vector.shape)} and {tuple(activity.shape)}")
        source_mask = source_mask_of(label_vector, self.target_sources_num)
        waveform = self.base(mixture, self.time_betas(label_vector, activity, mixture.shape[-1]))
        return waveform * source_mask[:, :, None, None], source_mask

    def separate(self, mixture: torch.Tensor, label_vector: torch.Tensor,
                 activity: Optional[torch.Tensor] = None) -> torch.Tensor:
        """mixture [B, C, L], label_vector [B, label_len], activity [B, S, K] -> waveform [B, S, O, L]."""
        return self.separate_with_mask(mixture, label_vector, activity)[0]
