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
