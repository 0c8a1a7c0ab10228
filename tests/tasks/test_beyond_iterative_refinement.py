"""Beyond the baseline: the iterative refinement configs (conf/{tuning,mini}/sep_resunetk_iter.yaml)."""
from __future__ import annotations

from pathlib import Path

import yaml

CONF = Path(__file__).resolve().parents[2] / "egs2" / "dcase26t4" / "s5" / "conf"


def test_iterative_config_differs_from_the_baseline_only_in_the_separator():
    for d in ("tuning", "mini"):
        base = yaml.safe_load((CONF / d / "sep_resunetk.yaml").read_text())
        iterative = yaml.safe_load((CONF / d / "sep_resunetk_iter.yaml").read_text())
        assert iterative.pop("separator") == "resunetk_iter" and base.pop("separator") == "resunetk"
        extra = {k: iterative["separator_conf"].pop(k) for k in ("n_passes", "detach_between_passes")}
        assert extra == {"n_passes": 2, "detach_between_passes": True}
        assert iterative == base, d   # same optimiser, items, epochs: equal training budget


def test_iterative_configs_pass_the_config_check_and_build_the_separator():
    from espnet2_ext.s5.separator import ResUNet30Iterative, separator_choices
    from espnet2_ext.tasks.s5_abs_task import check_config_yaml
    from espnet2_ext.tasks.s5_sep import S5SeparationTask

    for d in ("tuning", "mini"):
        path = CONF / d / "sep_resunetk_iter.yaml"
        check_config_yaml(S5SeparationTask.get_parser(), ["--config", str(path)])
        conf = yaml.safe_load(path.read_text())
        separator = separator_choices.get_class(conf["separator"])(**conf["separator_conf"])
        assert isinstance(separator, ResUNet30Iterative) and separator.n_passes == 2 and separator.base.pre_conv.in_channels == 7
