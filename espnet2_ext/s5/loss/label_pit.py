"""Permutation-invariant soft-target cross-entropy for the audio tagger's 3 slots.

Official ``label_loss.py`` (spec §2.3): torchmetrics
``permutation_invariant_training(logits, target, ce, 'speaker-wise', 'min')`` with
``ce(o, t) = F.cross_entropy(o, t as probabilities)``. Slot order is free;
silence is an ordinary class (index 18):

    CE[b, i, j] = −Σ_c target[b, i, c] · log_softmax(logits[b, j])_c
    loss_b      = min over permutations π of  mean_i CE[b, i, π(i)]
    loss        = mean_b loss_b
"""
from __future__ import annotations

from typing import Tuple

import torch

from espnet2_ext.s5.loss.permutations import best_permutation


def cross_entropy_matrix(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CE of every (target slot i, predicted slot j) pair: [B, S, C] x2 -> [B, S, S]."""
    log_prob = torch.log_softmax(logits, dim=-1)
    return -torch.einsum("bic,bjc->bij", target.to(log_prob.dtype), log_prob)


class LabelPITLoss(torch.nn.Module):
    """PIT cross-entropy over the tagger slots.

    ``forward(logits, target) -> (loss, best_perm)``:
        logits:    [B, S, 19] tagger logits (the official key name is 'probabilities')
        target:    [B, S, 19] one-hot (or soft) targets, silence = index 18
        loss:      0-dim, logits dtype, mean over the batch
        best_perm: [B, S] int64, ``best_perm[b, i]`` = predicted slot matched to target i
    """

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        per_item, best_perm = self.per_item(logits, target)
        return per_item.mean(), best_perm

    def per_item(self, logits: torch.Tensor, target: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-mixture loss [B] and best permutation [B, S]."""
        if logits.shape != target.shape:
            raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ")
        return best_permutation(cross_entropy_matrix(logits, target))
