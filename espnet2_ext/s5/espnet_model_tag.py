"""espnet2 model wrapper for the audio tagger: batch -> (loss, stats, weight).

Statistics are per-mixture means (weight = batch size), computed on the model's
device, so espnet2 can reduce them across ranks and the epoch value is exact:

* ``loss``: PIT cross-entropy; ``acc_mix``: fraction of mixtures whose label multiset is right;
* ``src_tp`` / ``src_err``: true-positive / wrong (fp + fn) sources per mixture;
* ``acc_src`` = ΣTP / (ΣTP + ΣFP + ΣFN): in a batch, the batch's ratio (training logs);
  over the validation set, recomputed from the summed ``src_tp``/``src_err`` by
  :meth:`ESPnetS5TaggerModel.finalize_stats` (the official pooled value, whatever the
  batch size or number of ranks).

With an SED tagger (``tagger.forward_frames``) and items carrying the slots' frame
``activity``, the loss is ``loss_slot + tagger.frame_loss_weight * loss_frame`` (the frame BCE
of :mod:`espnet2_ext.s5.loss.frame_bce` against the class activity, the union of the slot
tracks of each class); ``loss_slot``, ``loss_frame`` and ``frame_f1`` (frame-level F1 at 0.5,
ΣTP·2 / (ΣTP·2 + ΣFP + ΣFN) over the batch's frames x classes) are logged beside ``loss``.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch

from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.s5.activity import class_activity
from espnet2_ext.s5.loss.frame_bce import frame_bce
from espnet2_ext.s5.metrics.label_accuracy import label_counts_batch
from espnet2_ext.synth.torch_render import DeviceRenderer, model_inputs

AbsESPnetModel = quiet_import("espnet2.train.abs_espnet_model").AbsESPnetModel
force_gatherable = quiet_import("espnet2.torch_utils.device_funcs").force_gatherable


def source_accuracy(tp: float, err: float) -> float:
    """ΣTP / (ΣTP + ΣFP + ΣFN) as a fraction; 1 when nothing is present on either side."""
    return tp / (tp + err) if tp + err > 0 else 1.0


def frame_f1(frame_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Frame-level F1 of the decisions ``logit > 0`` (p > 0.5) over all frames x classes; 1 when
    nothing is active on either side. [B, K, C] x2 -> 0-dim."""
    pred, ref = frame_logits > 0, target > 0.5
    tp = (pred & ref).sum().double()
    wrong = (pred ^ ref).sum().double()
    return torch.where(tp + wrong > 0, 2 * tp / (2 * tp + wrong).clamp(min=1e-12), torch.ones_like(tp))


def batch_label_stats(pred: torch.Tensor, ref: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Label statistics of a batch (see module docstring): class indices [B, 3] x2 -> 0-dim tensors."""
    c = label_counts_batch(pred, ref)
    tp, err = c["tp"].double().mean(), (c["fp"] + c["fn"]).double().mean()
    acc_src = torch.where(tp + err > 0, tp / (tp + err).clamp(min=1e-12), torch.ones_like(tp))
    return {"acc_mix": c["acc"].double().mean(), "acc_src": acc_src, "src_tp": tp, "src_err": err}


class ESPnetS5TaggerModel(AbsESPnetModel):
    """Wraps a slot tagger (M2dAt / M2dAtSpatial) and the PIT label loss.

    Args:
        tagger: ``tagger(mixture [B, C, T]) -> logits [B, 3, 19]`` (silence = index 18).
        loss: ``loss(logits, target [B, 3, 19]) -> (scalar, perm)`` (permutation-invariant CE).
        renderer: renders unrendered training batches on their device
            (``train_data_conf.render_on_device``); None: batches carry the mixture.
    """

    def __init__(self, tagger: torch.nn.Module, loss: torch.nn.Module,
                 renderer: Optional[DeviceRenderer] = None):
        super().__init__()
        self.tagger = tagger
        self.loss = loss
        self.renderer = renderer

    def forward(self, mixture: Optional[torch.Tensor] = None, label_vector: Optional[torch.Tensor] = None,
                activity: Optional[torch.Tensor] = None,
                **kwargs) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        """mixture [B, 4, T], label_vector [B, 3, 19] one-hot, activity [B, 3, K] (SED tagger)
        -> loss, stats [1], weight [1].

        An unrendered batch (``render_*`` tensors in ``kwargs`` instead of the mixture) is
        rendered first, on its device (no dry targets)."""
        mixture, _ = model_inputs(self.renderer, mixture, None, kwargs, return_dry=False)
        frame_logits = None
        if activity is not None and hasattr(self.tagger, "forward_frames"):
            logits, frame_logits = self.tagger.forward_frames(mixture)
        else:
            logits = self.tagger(mixture)
        with torch.autocast(mixture.device.type, enabled=False):
            loss, _ = self.loss(logits.float(), label_vector.float())
            stats = {}
            if frame_logits is not None:
                target = class_activity(activity.float(), label_vector.float())
                loss_frame = frame_bce(frame_logits, target)
                stats = {"loss_slot": loss.detach(), "loss_frame": loss_frame.detach(),
                         "frame_f1": frame_f1(frame_logits.detach(), target)}
                loss = loss + self.tagger.frame_loss_weight * loss_frame
        stats = {"loss": loss.detach(), **stats}
        stats.update(batch_label_stats(logits.detach().argmax(-1), label_vector.argmax(-1)))
        weight = torch.tensor(mixture.shape[0], device=mixture.device)
        return force_gatherable((loss, stats, weight), loss.device)

    @staticmethod
    def finalize_stats(means: Dict[str, float]) -> Dict[str, float]:
        """Exact ``acc_src`` from the set-level means of ``src_tp`` and ``src_err``."""
        if "src_tp" in means and "src_err" in means:
            means = dict(means, acc_src=source_accuracy(means["src_tp"], means["src_err"]))
        return means

    def collect_feats(self, mixture: torch.Tensor, **kwargs) -> Dict[str, torch.Tensor]:
        return {}
