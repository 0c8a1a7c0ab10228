"""Frame-level sound event detector (SED) on the M2D tagger: slot labels + class activity over time.

:class:`M2dSedSpatial` (``--tagger m2d_sed_4c``) is the 4-channel baseline tagger
(:class:`M2dAtSpatial`, unchanged slot head and slot logits) plus a frame head on the same
encoder tokens. The frequency patches of each time step are averaged into one token per
160 ms (``time_tokens``), the frame head gives per-class logits per token, and these are
linearly interpolated to the activity grid of :mod:`espnet2_ext.s5.activity` (20 ms frames):

    waveform [B, 4, T] -> slot logits [B, 3, 19], frame logits [B, ceil(T / 640), 18]

It is trained with the slot PIT cross-entropy plus ``frame_loss_weight`` x the frame BCE
(:mod:`espnet2_ext.s5.loss.frame_bce`) against the class activity of the synthesized events;
at decoding its frame probabilities (sigmoid) condition a Time-FiLM separator
(:mod:`espnet2_ext.s5.separator.resunetk_tfilm`). Follows the temporal guidance of CPJKU
(DCASE2025 Task 4, arXiv 2507.17297); our own code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple, Union

import torch
from torch import nn

from espnet2_ext.s5.activity import ACTIVITY_HOP, n_activity_frames
from espnet2_ext.s5.labels import NUM_CLASSES
from espnet2_ext.s5.official import M2D_WEIGHT_PATH, N_CHANNELS, N_SLOTS
from espnet2_ext.s5.tagger.m2d_backbone import PortableM2D
from espnet2_ext.s5.tagger.m2d_tagger import M2dAtSpatial


class FrameHead(nn.Module):
    """Per-time-token class logits: [B, t, d_in] -> [B, t, num_classes].

    LayerNorm -> Linear(d_in, hidden) -> GELU -> Conv1d(hidden, hidden, 3) over time -> GELU
    -> Linear(hidden, num_classes) (the convolution adds +-1 token of context)."""

    def __init__(self, d_in: int, num_classes: int = NUM_CLASSES, hidden_dim: int = 256):
        super().__init__()
        self.norm = nn.LayerNorm(d_in)
        self.proj = nn.Linear(d_in, hidden_dim)
        self.context = nn.Conv1d(hidden_dim, hidden_dim, kernel_size=3, padding=1)
        self.out = nn.Linear(hidden_dim, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = nn.functional.gelu(self.proj(self.norm(tokens)))
        h = nn.functional.gelu(self.context(h.transpose(1, 2))).transpose(1, 2)
        return self.out(h)


def time_tokens(m2d: PortableM2D, tokens: torch.Tensor) -> torch.Tensor:
    """Encoder tokens [B, N, D] -> one token per time patch [B, t, D].

    Flat features hold ``f x t_chunk`` tokens per chunk in ``(f t)`` order: the f frequency
    patches of each time step are averaged. Stacked features already have one token per step."""
    if not m2d.flat_features:
        return tokens
    f, t_full = m2d.backbone.grid_size
    return torch.cat([c.reshape(c.shape[0], f, -1, c.shape[-1]).mean(1)
                      for c in tokens.split(f * t_full, dim=1)], dim=1)


def token_centres(m2d: PortableM2D, n_tokens: int) -> torch.Tensor:
    """Centre (in samples) of each time token: chunk i, patch j spans mel frames
    ``i * unit + j * pt .. + pt - 1`` and mel frame m is centred at sample ``m * hop``. -> [n_tokens]."""
    unit, pt = m2d.input_size[1], m2d.patch_size[1]
    per_chunk = m2d.backbone.grid_size[1]
    j = torch.arange(n_tokens, dtype=torch.float64)
    mel_frame = (j // per_chunk) * unit + (j % per_chunk) * pt + (pt - 1) / 2
    return mel_frame * m2d.to_spec.cfg.hop_length


def interpolate_to_frames(values: torch.Tensor, src_centres: torch.Tensor, n_frames: int,
                          hop: int = ACTIVITY_HOP) -> torch.Tensor:
    """Linear interpolation in time: values [B, t, C] at ``src_centres`` (samples, increasing)
    -> [B, n_frames, C] at the activity frame centres ``(k + 0.5) * hop`` (held constant
    beyond the first / last source centre)."""
    dst = (torch.arange(n_frames, dtype=torch.float64) + 0.5) * hop
    if values.shape[1] == 1:
        return values.expand(-1, n_frames, -1)
    hi = torch.searchsorted(src_centres, dst).clamp(1, len(src_centres) - 1)
    lo = hi - 1
    w = ((dst - src_centres[lo]) / (src_centres[hi] - src_centres[lo])).clamp(0, 1)
    w = w.to(values.device, values.dtype)[None, :, None]
    return values[:, lo.to(values.device)] * (1 - w) + values[:, hi.to(values.device)] * w


class M2dSedSpatial(M2dAtSpatial):
    """4-channel M2D tagger with a frame-level SED head (see module docstring).

    Args (beyond :class:`M2dAtSpatial`'s):
        frame_head_args: ``FrameHead`` keyword arguments (``hidden_dim``).
        frame_loss_weight: weight of the frame BCE in the training loss (read by
            :class:`espnet2_ext.s5.espnet_model_tag.ESPnetS5TaggerModel`).
    """

    #: items carry the slots' frame activity (the task adds ``activity`` to the data names)
    needs_activity = True

    def __init__(self, weight_file: Union[str, Path] = M2D_WEIGHT_PATH, num_classes: int = NUM_CLASSES + 1,
                 num_outputs: int = N_SLOTS, nchan: int = N_CHANNELS, finetuning_layers: str = "head",
                 head_args: Optional[dict] = None, frame_head_args: Optional[dict] = None,
                 frame_loss_weight: float = 1.0):
        super().__init__(weight_file, num_classes, num_outputs, nchan, finetuning_layers, head_args)
        self.frame_head = FrameHead(nchan * self.m2d.feature_d, NUM_CLASSES, **(frame_head_args or {}))
        self.frame_loss_weight = float(frame_loss_weight)

    def forward_frames(self, waveform: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """waveform [B, nchan, T] -> (slot logits [B, S, 19], frame logits [B, ceil(T / 640), 18])."""
        tokens = self.channel_features(waveform)
        per_step = time_tokens(self.m2d, tokens)
        frames = interpolate_to_frames(self.frame_head(per_step), token_centres(self.m2d, per_step.shape[1]),
                                       n_activity_frames(waveform.shape[-1]))
        return self.head(tokens), frames

    @torch.no_grad()
    def frame_probabilities(self, waveform: torch.Tensor) -> torch.Tensor:
        """waveform [B, nchan, T] -> per-class activity probabilities [B, ceil(T / 640), 18]."""
        return torch.sigmoid(self.forward_frames(waveform)[1])
