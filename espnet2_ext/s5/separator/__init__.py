"""Label-queried separators (ResUNetK, its iterative refinement) and their espnet2 ``ClassChoices`` registry."""
from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.s5.separator.resunetk import ResUNet30, load_official_separator
from espnet2_ext.s5.separator.resunetk_iter import ResUNet30Iterative
from espnet2_ext.s5.separator.resunetk_tfilm import ResUNet30TimeFiLM

ClassChoices = quiet_import("espnet2.train.class_choices").ClassChoices

separator_choices = ClassChoices("separator", {"resunetk": ResUNet30, "resunetk_iter": ResUNet30Iterative,
                                               "resunetk_tfilm": ResUNet30TimeFiLM})

__all__ = ["ResUNet30", "ResUNet30Iterative", "ResUNet30TimeFiLM", "load_official_separator", "separator_choices"]
