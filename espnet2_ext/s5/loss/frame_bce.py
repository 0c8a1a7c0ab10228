"""Frame-level binary cross-entropy of the SED tagger against the events' class activity.

With frame logits z [B, K, C] (C = 18 classes, K frames of :mod:`espnet2_ext.s5.activity`)
and the class activity y [B, K, C] in {0, 1} (union of the slot tracks of each class):

    BCE[b, k, c] = −( y · log σ(z) + (1 − y) · log(1 − σ(z)) )
    loss         = mean over b, k, c of BCE[b, k, c]

No permutation is needed: classes, unlike slots, have a fixed order.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def frame_bce(frame_logits: torch.Tensor, class_activity: torch.Tensor) -> torch.Tensor:
    """[B, K, C] logits x [B, K, C] targets -> 0-dim mean BCE (computed in float32)."""
    if frame_logits.shape != class_activity.shape:
        raise ValueError(f"frame logits {tuple(frame_logits.shape)} and activity {tuple(class_activity.shape)} differ")
    return F.binary_cross_entropy_with_logits(frame_logits.float(), class_activity.float())
