"""Numerical parity of the M2D taggers with the official DCASE2026 baseline.

Full-size ViT-B with the parity fixture's seeded weights; one 10 s forward per model
(B=2), with the encoder output captured by a hook, so the cost stays a few seconds.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from espnet2_ext.s5.tagger import M2dAt, M2dAtSpatial
from espnet2_ext.s5.tagger.m2d_frontend import M2dMelSpectrogram

TOL = 1e-4


def load_seeded_checkpoint(model, seeded, keys_name):
    """Load the parity tagger checkpoint (``m2dat_1c_ckpt``/``m2dat_4c_ckpt``) into ``model``."""
    rows = seeded.read_keys(keys_name)
    sd = seeded.m2dat_state_dict(rows, seeded.fixed_from_model(model.state_dict(), rows, "model."))
    model.load_state_dict({k[len("model."):]: v for k, v in sd.items()}, strict=True)
    return model.eval()


def forward_with_tokens(model, backbone, x):
    """(logits, encoder tokens without cls) of one no-grad forward; 10 s = one chunk."""
    tokens = []
    hook = backbone.register_forward_hook(lambda mod, inp, out: tokens.append(out[:, 1:]))
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        hook.remove()
    assert len(tokens) == 1
    return logits, tokens[0]


def assert_close(actual, expected, tol=TOL):
    expected = torch.as_tensor(expected, dtype=torch.float32)
    assert actual.shape == expected.shape
    err = (actual.float() - expected).abs().max().item()
    assert err <= tol, f"max abs error {err:.3g} > {tol}"


@pytest.fixture(scope="module")
def expected(seeded):
    return seeded.load_expected("m2dat.json")


@pytest.fixture(scope="module")
def audio(seeded, expected):
    return seeded.structured_audio(**expected["audio"])            # [2, 4, 320000]


@pytest.fixture(scope="module")
def tagger_1c(seeded, seeded_weight_file):
    return load_seeded_checkpoint(M2dAt(seeded_weight_file), seeded, "m2dat_1c_ckpt")


@pytest.fixture(scope="module")
def tagger_4c(seeded, seeded_weight_file):
    return load_seeded_checkpoint(M2dAtSpatial(seeded_weight_file), seeded, "m2dat_4c_ckpt")


def test_fixed_buffers_match_nnaudio(seeded):
    fixed = seeded.load_expected("fixed_buffers.json")["files"]["m2dat_1c_ckpt"]
    ours = M2dMelSpectrogram().state_dict()
    assert sorted("model.to_spec." + k for k in ours) == sorted(fixed)
    for key, value in ours.items():
        ref = fixed["model.to_spec." + key]
        arr = np.ascontiguousarray(value.numpy())
        assert list(arr.shape) == ref["shape"], key
        assert hashlib.sha256(arr.tobytes()).hexdigest() == ref["sha256"], key
        assert abs(float(np.abs(arr.astype(np.float64)).sum()) - ref["abs_sum"]) <= 1e-6 * ref["abs_sum"]


def test_tagger_1c_parity(tagger_1c, audio, expected, seeded):
    exp = expected["m2dat_1c"]
    assert (tagger_1c.norm_mean, tagger_1c.norm_std) == tuple(exp["norm_stats_used"])
    lms = tagger_1c.to_normalized_feature(audio[:, 0])
    assert tuple(lms.shape) == tuple(exp["lms_norm"]["shape"])
    assert_close(torch.from_numpy(seeded.every_nth(lms, 97)), seeded.load_expected(exp["lms_every_file"]))

    logits, tokens = forward_with_tokens(tagger_1c, tagger_1c.backbone, audio)   # uses channel 0
    assert tuple(tokens.shape) == tuple(exp["encoder"]["shape"])                  # [2, 310, 768]
    assert_close(torch.from_numpy(seeded.every_nth(tokens, 97)), seeded.load_expected(exp["encoder_every_file"]))
    assert_close(logits, exp["logits"])
    assert logits.argmax(-1).tolist() == exp["argmax"]


def test_tagger_4c_parity(tagger_4c, audio, expected, seeded):
    exp = expected["m2dat_4c"]
    logits, tokens = forward_with_tokens(tagger_4c, tagger_4c.m2d.backbone, audio)
    assert tuple(tokens.shape) == tuple(exp["encoder"]["shape"])                  # [8, 310, 768]
    assert_close(torch.from_numpy(seeded.every_nth(tokens, 97)), seeded.load_expected(exp["encoder_every_file"]))
    assert_close(logits, exp["logits"])
    assert logits.argmax(-1).tolist() == exp["argmax"]


def n_params(model, trainable=False):
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)


# (total, {finetuning mode: trainable}) with the AS-FT weight file (flat features, baseline_spec
# correction box). 2 ViT-B blocks = 14,175,744, final norm = 1,536, norm_stats (2) never trains.
@pytest.mark.parametrize("fixture, total, trainable", [
    ("tagger_1c", 89_468_219, {"head": 3_975_225, "backbone_out": 3_976_761,
                               "2_blocks": 18_152_505, "all": 89_468_217}),
    ("tagger_4c", 96_546_107, {"head": 11_053_113, "backbone_out": 11_054_649,
                               "2_blocks": 25_230_393, "all": 96_546_105}),
])
def test_parameter_counts_flat(request, fixture, total, trainable):
    model = request.getfixturevalue(fixture)
    assert n_params(model) == total
    try:
        for mode, count in trainable.items():
            model.set_finetuning_layers(mode)
            assert n_params(model, trainable=True) == count, mode
    finally:
        model.set_finetuning_layers("head")


def test_parameter_counts_stacked(tmp_path, seeded):
    """A weight file without the EVAR head gives stacked features (baseline_spec 1.2/1.3 figures)."""
    folder = tmp_path / seeded.M2D_DIR
    folder.mkdir()
    sd = {k: v for k, v in seeded.m2d_weight_state_dict().items() if not k.startswith("module.head.")}
    torch.save(sd, folder / seeded.M2D_FILE)
    del sd
    at1 = M2dAt(folder / seeded.M2D_FILE)
    assert not at1.flat_features and at1.feature_d == 3840
    assert (n_params(at1), n_params(at1, trainable=True)) == (98_905_403, 13_412_409)
    at1.set_finetuning_layers("2_blocks")
    assert n_params(at1, trainable=True) == 27_589_689
    del at1
    at4 = M2dAtSpatial(folder / seeded.M2D_FILE)
    assert (n_params(at4), n_params(at4, trainable=True)) == (134_294_843, 48_801_849)
