"""espnet2 model wrapper for the label-queried separator: batch -> (loss, stats, weight)."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch

from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.s5.labels import NUM_CLASSES
from espnet2_ext.synth.torch_render import DeviceRenderer, model_inputs

AbsESPnetModel = quiet_import("espnet2.train.abs_espnet_model").AbsESPnetModel
force_gatherable = quiet_import("espnet2.torch_utils.device_funcs").force_gatherable


class ESPnetS5SeparatorModel(AbsESPnetModel):
    """Wraps ResUNetK and the class-aware PIT loss (queried with the oracle labels).

    Args:
        separator: ``separator.separate(mixture [B, 4, T], query [B, 54]) -> [B, 3, 1, T]``
            (also given ``activity=`` [B, 3, K] when the items carry it: Time-FiLM).
        loss: ``loss(est [B,3,1,T], ref [B,3,1,T], labels [B,3,18]) -> (scalar, perm)`` (−SNR, class-aware PIT).
        renderer: renders unrendered training batches on their device
            (``train_data_conf.render_on_device``); None: batches carry mixture and dry_sources.
    """

    def __init__(self, separator: torch.nn.Module, loss: torch.nn.Module,
                 renderer: Optional[DeviceRenderer] = None):
        super().__init__()
        self.separator = separator
        self.loss = loss
        self.renderer = renderer

    def forward(self, mixture: Optional[torch.Tensor] = None, label_vector: Optional[torch.Tensor] = None,
                dry_sources: Optional[torch.Tensor] = None,
                **kwargs) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        """mixture [B, 4, T], label_vector [B, 54], dry_sources [B, 3, 1, T] -> loss, stats [1], weight [1].

        An unrendered batch (``render_*`` tensors in ``kwargs`` instead of mixture and
        dry_sources) is rendered first, on its device. The loss (an SNR: sums of squares,
        a log) always runs in float32, also under autocast.
        A separator with ``separate_passes`` (iterative refinement, K estimates est_1 .. est_K)
        is trained on every pass: loss = (1/K) sum_k PIT(est_k, dry_sources, labels), each
        term also reported as ``loss_pass<k>``."""
        mixture, dry_sources = model_inputs(self.renderer, mixture, dry_sources, kwargs, return_dry=True)
        conditions = {"activity": kwargs["activity"]} if "activity" in kwargs else {}
        if hasattr(self.separator, "separate_passes"):
            estimates = self.separator.separate_passes(mixture, label_vector, **conditions)[0]
        else:
            estimates = [self.separator.separate(mixture, label_vector, **conditions)]
        labels = label_vector.reshape(label_vector.shape[0], -1, NUM_CLASSES)
        with torch.autocast(mixture.device.type, enabled=False):
            losses = [self.loss(est.float(), dry_sources.float(), labels)[0] for est in estimates]
        loss = torch.stack(losses).mean()
        stats = {"loss": loss.detach()}
        if len(losses) > 1:
            stats.update({f"loss_pass{k}": v.detach() for k, v in enumerate(losses, start=1)})
        weight = torch.tensor(mixture.shape[0], device=mixture.device)
        return force_gatherable((loss, stats, weight), loss.device)

    def collect_feats(self, mixture: torch.Tensor, **kwargs) -> Dict[str, torch.Tensor]:
        return {}
