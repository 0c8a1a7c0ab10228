"""espnet2 model wrapper for the audio tagger: batch -> (loss, stats, weight)."""
from __future__ import annotations

from typing import Dict, Tuple

import torch

from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.s5.labels import index_to_label
from espnet2_ext.s5.metrics.label_accuracy import label_accuracies, label_counts

AbsESPnetModel = quiet_import("espnet2.train.abs_espnet_model").AbsESPnetModel


def batch_label_stats(pred: torch.Tensor, ref: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Official label accuracies of a batch as fractions: class indices [B, 3] x2 -> stats."""
    counts = [label_counts([index_to_label(int(i)) for i in p], [index_to_label(int(i)) for i in r])
              for p, r in zip(pred.cpu(), ref.cpu())]
    acc = label_accuracies(counts)
    return {"acc_mix": torch.tensor(acc["accuracy_mix"] / 100), "acc_src": torch.tensor(acc["accuracy_src"] / 100)}


class ESPnetS5TaggerModel(AbsESPnetModel):
    """Wraps a slot tagger (M2dAt / M2dAtSpatial) and the PIT label loss.

    Args:
        tagger: ``tagger(mixture [B, C, T]) -> logits [B, 3, 19]`` (silence = index 18).
        loss: ``loss(logits, target [B, 3, 19]) -> (scalar, perm)`` (permutation-invariant CE).
    """

    def __init__(self, tagger: torch.nn.Module, loss: torch.nn.Module):
        super().__init__()
        self.tagger = tagger
        self.loss = loss

    def forward(self, mixture: torch.Tensor, label_vector: torch.Tensor,
                **kwargs) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        """mixture [B, 4, T], label_vector [B, 3, 19] one-hot -> loss, stats, weight."""
        logits = self.tagger(mixture)
        loss, _ = self.loss(logits, label_vector)
        stats = {"loss": loss.detach()}
        stats.update(batch_label_stats(logits.detach().argmax(-1), label_vector.argmax(-1)))
        weight = torch.tensor(mixture.shape[0], device=mixture.device)
        return loss, stats, weight

    def collect_feats(self, mixture: torch.Tensor, **kwargs) -> Dict[str, torch.Tensor]:
        return {}
