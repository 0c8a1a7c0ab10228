"""Class-aware permutation-invariant −SNR loss for the label-queried separator.

Official ``class_aware_pit.py`` (spec §2.2). Target slots and prediction slots
may only be exchanged when they carry the *same* (query) label, so the loss is
invariant to the order of same-class duplicates but never matches across classes:

    M[b, i, j] = −SNR(pred_j, target_i)   if label_i == label_j and neither is silence
               = 0                         if i == j and slot i or j is silence
               = +1e9                      otherwise (forbidden)
    loss_b     = min over the S! permutations π of  mean_i M[b, i, π(i)]
    loss       = mean_b loss_b

The matrix is float64 as in the official code; SNRs are computed in the input
dtype first. Silent slots contribute 0 (and no gradient); the identity
permutation is always feasible.
"""
from __future__ import annotations

from typing import Tuple

import torch

from espnet2_ext.s5.labels import NUM_CLASSES
from espnet2_ext.s5.loss.permutations import best_permutation
from espnet2_ext.s5.metrics.snr import pairwise_snr

FORBIDDEN = 1e9


def class_aware_cost(pred: torch.Tensor, target: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """The float64 cost matrix M [B, S, S] (target i, prediction j) described above.

    pred, target: [B, S, C, T] (C channels, SNR averaged over them); label: [B, S, 18].
    """
    snr = pairwise_snr(pred.transpose(1, 2), target.transpose(1, 2))  # [B, C, S_tgt, S_pred]
    neg_snr = -snr.mean(dim=1).to(torch.float64)                      # [B, S, S]

    silent = ~label.abs().sum(dim=-1).bool()                          # [B, S]
    silent_pair = silent.unsqueeze(2) | silent.unsqueeze(1)
    same_label = (label.unsqueeze(2) == label.unsqueeze(1)).all(dim=-1)
    n_slots = label.shape[1]
    diagonal = torch.eye(n_slots, dtype=torch.bool, device=label.device)

    cost = torch.full_like(neg_snr, FORBIDDEN)
    cost = torch.where(silent_pair & diagonal, torch.zeros_like(neg_snr), cost)
    return torch.where(same_label & ~silent_pair, neg_snr, cost)


class ClassAwarePITLoss(torch.nn.Module):
    """Class-aware PIT −SNR (official CAPI training loss), usable on CPU/CUDA with autograd.

    ``forward(pred, target, label) -> (loss, best_perm)``:
        pred, target: [B, S, T] or [B, S, C, T] separated / reference (dry) sources
        label:        [B, S, 18] or [B, S*18] query one-hots, silence = all-zero row
        loss:         0-dim float64, mean over the batch
        best_perm:    [B, S] int64, ``best_perm[b, i]`` = prediction slot matched to target i
    """

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, label: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        per_item, best_perm = self.per_item(pred, target, label)
        return per_item.mean(), best_perm

    def per_item(
        self, pred: torch.Tensor, target: torch.Tensor, label: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-mixture loss [B] (float64) and best permutation [B, S]."""
        if pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        if pred.dim() == 3:
            pred, target = pred.unsqueeze(2), target.unsqueeze(2)
        batch, n_slots = pred.shape[:2]
        label = label.reshape(batch, n_slots, NUM_CLASSES)
        return best_permutation(class_aware_cost(pred, target, label))
