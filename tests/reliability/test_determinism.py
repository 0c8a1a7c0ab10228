"""Determinism: the same seed gives bit-identical mixtures and, on CPU, identical weights."""
from __future__ import annotations

import torch
import yaml

from espnet2_ext.bin import s5_synthesize
from espnet2_ext.synth.dataset import GenerateDataset
from reliability_cases import covers
from reliability_tools import assert_same_state, final_state, train, train_args

ARRAYS = ("mixture", "label_vector", "dry_sources")


def items(config: dict, corpus, seed: int, epochs=(1, 2), n: int = 4) -> list:
    """Items 0..n-1 of each epoch from a fresh dataset (fresh RIR and source caches)."""
    ds = GenerateDataset(config, corpus_root=corpus, seed=seed)
    out = []
    for epoch in epochs:
        ds.set_epoch(epoch)
        out += [ds[i] for i in range(n)]
    return out


@covers("same_seed_training_items")
def test_same_seed_same_training_items(tag_config, corpus):
    config = yaml.safe_load(tag_config.read_text())["train_data_conf"]
    first, again, other = items(config, corpus, 5), items(config, corpus, 5), items(config, corpus, 6)
    for a, b in zip(first, again):
        assert a["labels"] == b["labels"]
        for key in ARRAYS:
            assert torch.equal(a[key], b[key]), key
    assert not torch.equal(first[0]["mixture"], first[4]["mixture"])     # epochs differ
    assert not all(torch.equal(a["mixture"], c["mixture"]) for a, c in zip(first, other))


@covers("same_seed_stage3")
def test_same_seed_same_stage3_mixtures(corpus, tmp_path):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        s5_synthesize.main(["render", "--metadata_list", str(corpus / "dev_set" / "metadata" / "valid.json"),
                            "--corpus_root", str(corpus), "--out_dir", str(out)])
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*.wav"))
    assert len(files) >= 4
    assert files == sorted(p.relative_to(outs[1]) for p in outs[1].rglob("*.wav"))
    for f in files:
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f


@covers("same_seed_training")
def test_two_trainings_give_identical_weights(tag_config, valid_dir, corpus, reference_training, tmp_path):
    exp, log = tmp_path / "exp", tmp_path / "train.log"
    res = train(train_args(tag_config, exp, valid_dir, corpus), log)
    assert res.returncode == 0, log.read_text()[-3000:]
    assert_same_state(final_state(exp), final_state(reference_training))
