"""The full-scale corpus generator at a tiny scale: official layout, drawable by the training dataset."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from espnet2_ext.bin import s5_full_corpus
from espnet2_ext.corpus.full_scale import STAMP, FullScaleConfig, build_full_corpus, estimate_bytes, remove_corpus
from espnet2_ext.corpus.layout import check_layout
from espnet2_ext.corpus.mini import tree_digest
from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.official import CLASSES
from espnet2_ext.synth.dataset import GenerateDataset
from espnet2_ext.synth.sofa import read_sofa_header

TAG_CONF = Path(__file__).resolve().parents[2] / "egs2/dcase26t4/s5/conf/tuning/tag_head_4c.yaml"
TINY_FLAGS = ["--scale", "0.05", "--rir_len", "2048", "--n_positions", "8", "--noise_seconds", "2",
              "--clip_seconds", "0.3", "1.0", "--interference_classes", "3", "--progress", "false"]


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "corpus"
    s5_full_corpus.main(["--outdir", str(out), "--seed", "7"] + TINY_FLAGS)
    return out


def test_tiny_corpus_passes_the_layout_check(tiny_corpus):
    text = check_layout(tiny_corpus / "dev_set", tiny_corpus / "eval_set", None)
    assert text.endswith("layout OK")
    cfg = json.loads((tiny_corpus / STAMP).read_text())["config"]
    assert cfg["rooms"] == [1, 1] and cfg["files_per_subfolder"] == [1, 1] and cfg["seed"] == 7
    dev = tiny_corpus / "dev_set"
    assert sorted(p.name for p in (dev / "sound_event" / "train").iterdir()) == sorted(CLASSES)
    assert len(list((dev / "sound_event" / "train").rglob("*.wav"))) == 18 * 10
    assert len(list((dev / "interference" / "train").rglob("*.wav"))) == 3
    head = read_sofa_header(next((dev / "room_ir" / "train").glob("full-room_*.sofa")))
    assert (head.positions.shape[0], head.rir_len, head.sr) == (8, 2048, 32000)
    assert not [p for p in tiny_corpus.parent.iterdir() if p.name.startswith(".")]   # no temp folder left


def test_generate_dataset_draws_items_with_the_official_train_config(tiny_corpus):
    conf = yaml.safe_load(TAG_CONF.read_text())["train_data_conf"]
    conf["dataset_length"] = 3
    data = GenerateDataset(conf, corpus_root=tiny_corpus, label_vector_mode="stack", return_source=False)
    assert len(data.sampler.fg.labels) == 18 and len(data.sampler.interf.labels) == 3
    for i in range(3):
        item = data[i]
        assert item["mixture"].shape == (4, 320000) and np.isfinite(item["mixture"].numpy()).all()
        assert float(item["mixture"].abs().max()) > 0


def test_same_seed_same_bytes_and_counts_scale(tmp_path):
    tiny = dict(rir_len=256, n_positions=6, noise_seconds=1.0, clip_seconds=(0.2, 0.4),
                interference_classes=("Bus",), n_valid=1, n_test=1, n_eval=0)
    cfg = FullScaleConfig.at_scale(0.05, seed=1, **tiny)
    a = build_full_corpus(tmp_path / "a", cfg, progress=False)
    b = build_full_corpus(tmp_path / "b", cfg, progress=False)
    assert tree_digest(a) == tree_digest(b)
    big = FullScaleConfig.at_scale(0.5, **tiny)
    assert big.rooms == (4, 1) and big.files_per_subfolder == (8, 1) and big.noise_files == (24, 4)
    assert estimate_bytes(FullScaleConfig()) > 5 * estimate_bytes(FullScaleConfig.at_scale(0.125))
    with pytest.raises(S5InputError, match="not empty"):
        build_full_corpus(a, cfg, progress=False)
    remove_corpus(a)
    assert not a.exists()


@pytest.mark.parametrize("flags, message", [
    (["--scale", "0"], "--scale: '0' is not a finite number > 0"),
    (["--rooms", "0", "1"], "--rooms: '0' is not a positive integer"),
    (["--scale", "100000"], "the corpus needs about"),
    (["--clip_seconds", "5", "1"], "clip_seconds (5.0, 1.0)"),
])
def test_bad_input_is_one_error_line_and_writes_nothing(tmp_path, flags, message):
    out = tmp_path / "c"
    res = subprocess.run([sys.executable, "-m", "espnet2_ext.bin.s5_full_corpus", "--outdir", str(out)] + flags,
                         capture_output=True, text=True, timeout=120)
    errors = [line for line in res.stderr.splitlines() if line.startswith("ERROR:")]
    assert res.returncode == 2 and len(errors) == 1 and message in errors[0], res.stderr
    assert "Traceback" not in res.stderr and not out.exists()
