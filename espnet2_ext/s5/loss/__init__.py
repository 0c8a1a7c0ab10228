"""Training losses of the S5 models and their ESPnet registry.

``loss_choices`` is an ESPnet ``ClassChoices`` (``--loss`` / ``--loss_conf``):
    capi_pit  -> ClassAwarePITLoss  (separator: class-aware PIT −SNR)
    label_pit -> LabelPITLoss       (tagger: PIT cross-entropy)
"""
import torch

from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.s5.loss.capi_pit import ClassAwarePITLoss
from espnet2_ext.s5.loss.label_pit import LabelPITLoss

_class_choices = quiet_import("espnet2.train.class_choices")

loss_choices = _class_choices.ClassChoices(
    "loss",
    {"capi_pit": ClassAwarePITLoss, "label_pit": LabelPITLoss},
    type_check=torch.nn.Module,
    default=None,
)

__all__ = ["ClassAwarePITLoss", "LabelPITLoss", "loss_choices"]
