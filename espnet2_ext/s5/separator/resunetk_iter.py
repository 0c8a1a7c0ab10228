"""Iterative refinement ResUNetK (beyond the baseline): the separator refines its own estimate.

Follows the iterative refinement of CPJKU (DCASE2025 Task 4, 2nd place, arXiv 2507.17297).
The separator runs K = ``n_passes`` times on the same mixture and query. Pass k sees the
4-channel mixture *and* the previous pass's estimate of the S = 3 slots (S x O more input
channels; pass 1 sees zeros there)::

    est_0 = 0                                         [B, S, O, L]
    est_k = mask_q * U([mixture ; est_{k-1}], q)       k = 1 .. K

where U is the baseline's FiLM-conditioned complex-mask U-Net (:class:`ResUNet30Base`:
every input channel gets its own per-slot complex mask and ``out_conv`` mixes the masked
channels, so the previous estimate can be passed through, corrected or ignored), q the
label query and mask_q zeroes the silent slots. The label embedding and FiLM are computed
once and shared by all passes; only the width of ``pre_conv``, ``after_conv`` and
``out_conv`` grows with the extra channels. With ``detach_between_passes`` est_{k-1} enters
pass k as a constant (no gradient through earlier passes; memory of one pass at a time).

Training (:class:`ESPnetS5SeparatorModel`) applies the class-aware PIT loss to every pass
(:meth:`ResUNet30Iterative.separate_passes`); decoding (:meth:`separate`, hence
``S5Pipeline`` and ``s5_inference``) runs all K passes and returns est_K.
"""
from __future__ import annotations

from typing import List, Tuple

import torch

from espnet2_ext import validate
from espnet2_ext.s5.separator.resunetk import ResUNet30, source_mask_of


class ResUNet30Iterative(ResUNet30):
    """ResUNet30 that refines its estimate over ``n_passes`` passes (see module docstring).

    Args:
        input_channels, output_channels, target_sources_num, label_len, base_channels: as
            :class:`ResUNet30` (``input_channels`` counts the mixture's channels only).
        n_passes: K >= 1 separator passes (1: one pass with an all-zero estimate input).
        detach_between_passes: feed the previous estimate without its gradient.
    """

    def __init__(self, input_channels: int = 4, output_channels: int = 1, target_sources_num: int = 3,
                 label_len: int = 54, base_channels: int = 32, n_passes: int = 2,
                 detach_between_passes: bool = True):
        validate.number(n_passes, "separator_conf", "n_passes", lo=1, integer=True, fix="give K >= 1 passes")
        validate.typed(detach_between_passes, bool, "separator_conf", "detach_between_passes", "true or false")
        super().__init__(input_channels, output_channels, target_sources_num, label_len, base_channels)
        self.output_channels = output_channels
        self.n_passes = n_passes
        self.detach_between_passes = detach_between_passes

    @staticmethod
    def unet_input_channels(input_channels: int, output_channels: int, target_sources_num: int) -> int:
        """The mixture's channels plus one per slot and output channel of the previous estimate."""
        return input_channels + target_sources_num * output_channels

    def separate_passes(self, mixture: torch.Tensor, label_vector: torch.Tensor
                        ) -> Tuple[List[torch.Tensor], torch.Tensor]:
        """mixture [B, C, L], label_vector [B, label_len] -> ([est_1 .. est_K], each [B, S, O, L];
        source_mask [B, S]). Silent slots are exactly zero in every pass."""
        self.check_inputs(mixture, label_vector)
        source_mask = source_mask_of(label_vector, self.target_sources_num)
        film = self.film(self.label_embedding(label_vector))
        batch, _, length = mixture.shape
        est = mixture.new_zeros(batch, self.target_sources_num, self.output_channels, length)
        passes = []
        for _ in range(self.n_passes):
            previous = est.detach() if self.detach_between_passes else est
            unet_input = torch.cat([mixture, previous.reshape(batch, -1, length).to(mixture.dtype)], dim=1)
            est = self.base(unet_input, film) * source_mask[:, :, None, None]
            passes.append(est)
        return passes, source_mask

    def separate_with_mask(self, mixture: torch.Tensor, label_vector: torch.Tensor
                           ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The last pass: (est_K [B, S, O, L], source_mask [B, S])."""
        passes, source_mask = self.separate_passes(mixture, label_vector)
        return passes[-1], source_mask
