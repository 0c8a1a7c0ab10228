"""Beyond the baseline, item 4: the full M2D fine-tuning config (conf/{tuning,mini}/tag_blocks_full_4c.yaml)."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
import yaml

from espnet2_ext.tasks.s5_tag import S5TaggingTask

CONF = Path(__file__).resolve().parents[2] / "egs2" / "dcase26t4" / "s5" / "conf"


def test_full_config_differs_from_the_baseline_only_in_what_trains():
    for d in ("tuning", "mini"):
        base = yaml.safe_load((CONF / d / "tag_blocks_4c.yaml").read_text())
        full = yaml.safe_load((CONF / d / "tag_blocks_full_4c.yaml").read_text())
        assert full["tagger_conf"].pop("finetuning_layers") == "all"
        base["tagger_conf"].pop("finetuning_layers")
        assert full == base, d   # same lr, items, epochs: equal training budget


def test_full_fine_tuning_trains_every_m2d_parameter(tiny_setup, tiny_config, tmp_path):
    corpus, valid = tiny_setup
    config = tiny_config("tag_blocks_full_4c", corpus, tmp_path / "c.yaml")
    args = argparse.Namespace(**yaml.safe_load(config.read_text()))
    model = S5TaggingTask.build_model(args)
    frozen = [n for n, p in model.tagger.named_parameters() if not p.requires_grad and "norm_stats" not in n]
    assert not frozen
    exp = tmp_path / "exp"
    S5TaggingTask.main(cmd=["--config", str(config), "--output_dir", str(exp), "--valid_data_dir", str(valid),
                            "--ngpu", "0", "--resume", "true"])
    a = torch.load(exp / "1epoch.pth", map_location="cpu")
    b = torch.load(exp / "2epoch.pth", map_location="cpu")
    patch = [k for k in a if "patch_embed" in k]
    assert patch and any(not torch.equal(a[k], b[k]) for k in patch), "the patch embedding did not train"
