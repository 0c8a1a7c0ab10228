"""A tiny corpus + validation data dir + configs for few-step training tests."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from espnet2_ext.synth.datadir import write_datadir
from espnet2_ext.synth.fixed_sets import render
from espnet2_ext.s5.official import M2D_FOLDER, M2D_WEIGHTS
from mini_corpora import shared_folder

RECIPE_CONF = Path(__file__).resolve().parents[2] / "egs2" / "dcase26t4" / "s5" / "conf" / "mini"


@pytest.fixture(scope="session")
def tiny_setup(small_corpus, tmp_path_factory):
    """(corpus_root, valid data dir): the suite's small mini corpus and its 3 validation scenes
    of 2 s, rendered once per test run. Read both; do not change them."""

    def render_valid(valid: Path) -> None:
        render(small_corpus / "dev_set" / "metadata" / "valid.json", small_corpus, valid, job=1, nj=1)
        write_datadir(valid / "soundscape", valid, valid / "oracle_target")

    return small_corpus, shared_folder(tmp_path_factory, "small-valid", render_valid)


@pytest.fixture(scope="session")
def tiny_config():
    """``make(name, corpus, out, **overrides)``: conf/mini/<name>.yaml shrunk to a few 2 s items."""
    return _tiny_config


def _tiny_config(name: str, corpus: Path, out: Path, **overrides) -> Path:
    conf = yaml.safe_load((RECIPE_CONF / f"{name}.yaml").read_text())
    scene = conf["train_data_conf"]["spatial_sound_scene"]
    scene["duration"] = scene["max_event_dur"] = 2.0
    conf["train_data_conf"]["dataset_length"] = 4
    conf.update(batch_size=2, valid_batch_size=2, num_workers=0, max_epoch=2, log_interval=1, keep_nbest_models=2,
                corpus_root=str(corpus))
    if "tagger_conf" in conf:
        conf["tagger_conf"]["weight_file"] = str(corpus / "checkpoint" / M2D_FOLDER / M2D_WEIGHTS)
    conf.update(overrides)
    out.write_text(yaml.safe_dump(conf))
    return out
