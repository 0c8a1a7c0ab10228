"""Audio taggers (AT) of the S5 system: M2D frontend, backbone and slot taggers.

``tagger_choices`` is the espnet2 ``ClassChoices`` registry used by the tagging task
(``--tagger m2d_at_1c|m2d_at_4c --tagger_conf weight_file=...``; ``m2d_sed_4c``: the 4c tagger
with a frame-level SED head, :mod:`espnet2_ext.s5.tagger.m2d_sed`).
"""
from torch import nn

from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.s5.official import DEFAULT_TAGGER_TYPE, tagger_type
from espnet2_ext.s5.tagger.m2d_tagger import (VARIANTS, HeadAvgLinear, M2dAt, M2dAtSpatial, load_official_tagger,
                                              slots_from_logits)
from espnet2_ext.s5.tagger.m2d_sed import M2dSedSpatial
from espnet2_ext.s5.tagger.m2d_weights import fabricate_m2d_weight_file, read_m2d_weight_file

ClassChoices = quiet_import("espnet2.train.class_choices").ClassChoices

tagger_choices = ClassChoices(
    "tagger",
    classes={**{tagger_type(v): cls for v, cls in VARIANTS.items()},   # m2d_at_1c, m2d_at_4c
             "m2d_sed_4c": M2dSedSpatial},
    type_check=nn.Module,
    default=DEFAULT_TAGGER_TYPE,
)

__all__ = ["tagger_choices", "M2dAt", "M2dAtSpatial", "M2dSedSpatial", "HeadAvgLinear", "load_official_tagger",
           "slots_from_logits", "fabricate_m2d_weight_file", "read_m2d_weight_file"]
