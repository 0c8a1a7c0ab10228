"""Fixtures for the reliability tests: a small corpus, a stage-3 valid dir, tiny models."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from espnet2_ext.s5.official import M2D_FOLDER, M2D_WEIGHTS
from reliability_cases import CATALOGUE_CASES
from reliability_tools import (MINI_CONF, corpus_conftest, decode_args, single_thread, tiny_training_config,
                               traceback_sections, train, train_args)

#: clone_dev(src_dev_set, *mutable) -> a dev_set copy safe to break (tests/corpus/conftest.py)
clone_dev = corpus_conftest().clone_dev


@pytest.fixture(scope="session")
def corpus(small_corpus) -> Path:
    """The suite's small mini corpus (seed 0, 2 s soundscapes, 3 dev-test soundscapes)."""
    return small_corpus


@pytest.fixture(scope="session")
def m2d_weight_file(corpus) -> Path:
    return corpus / "checkpoint" / M2D_FOLDER / M2D_WEIGHTS


@pytest.fixture(scope="session")
def test_set(corpus) -> SimpleNamespace:
    """The dev test set: ``soundscape`` and ``oracle_target`` folders (read-only)."""
    test = corpus / "dev_set" / "synthesized" / "test"
    return SimpleNamespace(soundscape=test / "soundscape", oracle_target=test / "oracle_target")


@pytest.fixture(scope="session")
def valid_dir(corpus, tmp_path_factory) -> Path:
    """Stage 3 for the valid list: rendered mixtures + the Kaldi-style data dir."""
    from espnet2_ext.bin import s5_synthesize

    out = tmp_path_factory.mktemp("valid") / "valid"
    s5_synthesize.main(["render", "--metadata_list", str(corpus / "dev_set" / "metadata" / "valid.json"),
                        "--corpus_root", str(corpus), "--out_dir", str(out)])
    s5_synthesize.main(["datadir", "--soundscape_dir", str(out / "soundscape"),
                        "--oracle_target_dir", str(out / "oracle_target"), "--out_dir", str(out)])
    return out


def _model_folder(task, config: dict, folder: Path) -> Path:
    """An espnet2 model file (random weights, seed 0) + its config.yaml, as training leaves them."""
    torch.manual_seed(0)
    model = task.build_model(argparse.Namespace(**config))
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save(model.state_dict(), folder / "model.pth")
    return folder / "model.pth"


@pytest.fixture(scope="session")
def models(tmp_path_factory, m2d_weight_file) -> SimpleNamespace:
    """Tiny tagger (1c, small head) and separator (ResUNetK width 8) model files."""
    from espnet2_ext.tasks.s5_sep import S5SeparationTask
    from espnet2_ext.tasks.s5_tag import S5TaggingTask

    root = tmp_path_factory.mktemp("models")
    common = {"loss_conf": {}, "ngpu": 0}
    sep = yaml.safe_load((MINI_CONF / "sep_resunetk.yaml").read_text())
    sep = {k: sep[k] for k in ("separator", "separator_conf", "loss")} | common
    tag = tiny_training_config(m2d_weight_file)
    tag = {k: tag[k] for k in ("tagger", "tagger_conf", "loss")} | common
    return SimpleNamespace(separator=_model_folder(S5SeparationTask, sep, root / "sep"),
                           tagger=_model_folder(S5TaggingTask, tag, root / "tag"))


@pytest.fixture(scope="session")
def reference_decode(models, test_set, tmp_path_factory) -> Path:
    """An uninterrupted decode of the dev test set (what every interrupted decode must match)."""
    from espnet2_ext.bin import s5_inference

    out = tmp_path_factory.mktemp("decode") / "reference"
    with single_thread():     # like the decoding subprocesses (OMP_NUM_THREADS=1)
        s5_inference.main(decode_args(models, test_set.soundscape, out))
    return out


@pytest.fixture(scope="session")
def tag_config(tmp_path_factory, m2d_weight_file) -> Path:
    """A tiny tagger training config (3 epochs of 32 items, batch 4, no workers)."""
    path = tmp_path_factory.mktemp("conf") / "tag_tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_training_config(m2d_weight_file)))
    return path


@pytest.fixture(scope="session")
def reference_training(tag_config, valid_dir, corpus, tmp_path_factory) -> Path:
    """An uninterrupted tiny training (3 epochs): what interrupted trainings must end with."""
    exp = tmp_path_factory.mktemp("train") / "exp"
    res = train(train_args(tag_config, exp, valid_dir, corpus), exp.parent / "train.log")
    assert res.returncode == 0, (exp.parent / "train.log").read_text()[-3000:]
    return exp


@pytest.fixture
def copy_of(tmp_path):
    """copy_of(folder) -> a private copy of ``folder`` under tmp_path (safe to break)."""
    def copy(src: Path) -> Path:
        dst = tmp_path / src.name
        shutil.copytree(src, dst)
        return dst
    return copy


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Every catalogue case (a test marked ``@covers``) fails if its output holds a traceback.

    Checks the captured stdout/stderr that the test did not read itself (what it read goes
    through :func:`reliability_tools.expect_error` / the fuzz oracle, which check the same).
    """
    outcome = yield
    report = outcome.get_result()
    case_ids = getattr(getattr(item, "function", None), "case_ids", None)
    if case_ids and report.passed:
        bad = traceback_sections(report.sections)
        if bad:
            report.outcome = "failed"
            report.longrepr = f"'Traceback' in {bad} of catalogue case(s) {', '.join(case_ids)}"
    if case_ids:      # counted where the reports arrive (tests/conftest.py), also from xdist workers
        report.user_properties.append((CATALOGUE_CASES, list(case_ids)))
