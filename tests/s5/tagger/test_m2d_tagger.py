"""Tagger behaviour on a tiny fabricated M2D: checkpoints, predict, freezing, registry, devices."""
from __future__ import annotations

import pytest
import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.labels import CLASSES, SILENCE, SILENCE_INDEX
from espnet2_ext.s5.tagger import M2dAt, M2dAtSpatial, load_official_tagger, slots_from_logits, tagger_choices

SR = 32000


def lightning_file(path, model):
    """Write ``model`` as an official Lightning checkpoint ({'state_dict': {'model.<key>': ...}})."""
    sd = {"model." + k: v for k, v in model.state_dict().items()}
    torch.save({"epoch": 3, "global_step": 10, "state_dict": sd}, path)
    return path


def randomize_head_stats(model, seed=0):
    """Give the slot head's BatchNorm non-trivial running stats (so loading them matters)."""
    g = torch.Generator().manual_seed(seed)
    bn = model.head.m2d_out_norm
    bn.running_mean.copy_(torch.randn(bn.running_mean.shape, generator=g))
    bn.running_var.copy_(torch.rand(bn.running_var.shape, generator=g) + 0.5)


@pytest.mark.parametrize("cls, variant", [(M2dAt, "1c"), (M2dAtSpatial, "m2d_at_4c")])
def test_official_checkpoint_round_trip(tmp_path, tiny_weight_file, cls, variant):
    torch.manual_seed(0)
    trained = cls(tiny_weight_file)
    randomize_head_stats(trained)
    trained.eval()
    ckpt = lightning_file(tmp_path / "tagger.ckpt", trained)
    loaded = load_official_tagger(ckpt, tiny_weight_file, variant)
    assert not loaded.training
    x = torch.randn(2, 4, SR * 2)
    with torch.no_grad():
        assert torch.equal(loaded(x), trained(x))


def test_wrong_checkpoint_names_the_keys(tmp_path, tiny_weight_file):
    resunet = tmp_path / "resunetk.ckpt"
    torch.save({"state_dict": {"model.base.bn0.weight": torch.ones(513),
                               "model.base.pre_conv.weight": torch.ones(32, 4, 1, 1)}}, resunet)
    with pytest.raises(S5InputError) as err:
        load_official_tagger(resunet, tiny_weight_file, "1c")
    msg = str(err.value)
    assert "missing keys: backbone.cls_token" in msg and "unexpected keys: model.base.bn0.weight" in msg
    assert "m2dat_1c" in msg and str(resunet) in msg

    ckpt_1c = lightning_file(tmp_path / "m2dat_1c.ckpt", M2dAt(tiny_weight_file))
    with pytest.raises(S5InputError, match="missing keys: m2d.backbone.cls_token"):
        load_official_tagger(ckpt_1c, tiny_weight_file, "4c")
    with pytest.raises(S5InputError, match="unknown tagger variant"):
        load_official_tagger(ckpt_1c, tiny_weight_file, "2c")


def test_ref_channel_selects_the_input_channel(tiny_weight_file):
    model = M2dAt(tiny_weight_file, ref_channel=2).eval()
    x = torch.randn(1, 4, SR * 2)
    with torch.no_grad():
        assert torch.equal(model(x), model(x[:, 2]))
        assert tuple(model(x).shape) == (1, 3, 19)


def test_spatial_tagger_concatenates_channels_per_token(tiny_weight_file):
    model = M2dAtSpatial(tiny_weight_file).eval()
    x = torch.randn(2, 4, SR * 2)
    with torch.no_grad():
        feats = model.channel_features(x)                       # [2, 65, 4*64]
        per_channel = model.m2d.encode(x[1, 3:4])               # item 1, channel 3 alone
    assert tuple(feats.shape) == (2, 65, 256)
    assert torch.allclose(feats[1, :, 192:], per_channel[0], atol=1e-5)
    with pytest.raises(ValueError, match=r"\[B, 4, T\]"):
        model(x[:, :2])


def test_predict_is_argmax_without_threshold(tiny_weight_file):
    model = M2dAt(tiny_weight_file).eval()
    wanted = [CLASSES.index("Cough"), SILENCE_INDEX, 0]
    for track, cls in zip(model.head.tracks, wanted):           # constant logits per slot
        final = track[-1]
        torch.nn.init.zeros_(final.weight)
        final.bias.data.fill_(0.0)
        final.bias.data[cls] = 0.1                             # a weak winner: p ~ 0.058 < 1/2
    out = model.predict(torch.randn(2, SR * 2))
    assert out["labels"] == [["Cough", SILENCE, "AlarmClock"]] * 2
    assert torch.equal(out["label_vector"].argmax(-1), torch.tensor([wanted, wanted]))
    assert out["label_vector"].sum(-1).eq(1).all() and out["label_vector"].dtype == torch.float32
    p = torch.softmax(torch.tensor([0.1] + [0.0] * 18), 0)[0]
    assert torch.allclose(out["probabilities"], p.expand(2, 3))
    assert out["logits"].shape == (2, 3, 19)


def test_slots_from_logits_ties_and_silence():
    logits = torch.zeros(1, 3, 19)
    logits[0, 0, SILENCE_INDEX] = 5.0
    logits[0, 1, 4] = 1.0
    out = slots_from_logits(logits)
    assert out["labels"] == [[SILENCE, CLASSES[4], CLASSES[0]]]     # all-equal slot -> first index
    with pytest.raises(ValueError, match="19 classes"):
        slots_from_logits(torch.zeros(1, 3, 7))


def trainable_names(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_finetuning_modes_on_depth_2(tiny_weight_file):
    model = M2dAt(tiny_weight_file)                            # depth 2: blocks 0, 1
    heads = trainable_names(model)
    assert heads and all(n.startswith("head.") for n in heads)
    model.set_finetuning_layers("1_blocks")
    assert {n.split(".")[1] for n in trainable_names(model) if n.startswith("backbone.")} == {"blocks", "norm"}
    assert not any(n.startswith("backbone.blocks.0.") for n in trainable_names(model))
    model.set_finetuning_layers("all")
    assert trainable_names(model) == {n for n, _ in model.named_parameters()} - {"backbone.norm_stats"}
    for bad in ("3_blocks", "0_blocks", "blocks", "everything"):
        with pytest.raises(S5InputError, match="finetuning_layers"):
            model.set_finetuning_layers(bad)


def test_spatial_head_always_trains(tiny_weight_file):
    model = M2dAtSpatial(tiny_weight_file, finetuning_layers="head")
    assert trainable_names(model) == {n for n, _ in model.head.named_parameters(prefix="head")}
    model.set_finetuning_layers("backbone_out")
    assert trainable_names(model) - {n for n, _ in model.head.named_parameters(prefix="head")} == \
        {"m2d.backbone.norm.weight", "m2d.backbone.norm.bias"}


def test_tagger_choices_registry(tiny_weight_file):
    assert tagger_choices.get_class("m2d_at_1c") is M2dAt
    assert tagger_choices.get_class("m2d_at_4c") is M2dAtSpatial
    model = tagger_choices.get_class("m2d_at_4c")(weight_file=str(tiny_weight_file), nchan=2,
                                                  head_args={"track_input_dim": 32, "track_hidden_dim": 16})
    assert model.head.linear[0].out_features == 3 * 32
    with torch.no_grad():
        assert tuple(model.eval()(torch.randn(1, 2, SR)).shape) == (1, 3, 19)


def test_training_step_updates_only_trainable(tiny_weight_file):
    model = M2dAt(tiny_weight_file, finetuning_layers="1_blocks").train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = model(torch.randn(2, SR)).logsumexp(-1).mean()
    loss.backward()
    opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert "backbone.blocks.1.mlp.fc2.weight" in changed and "head.tracks.0.3.weight" in changed
    assert not any(n.startswith(("backbone.blocks.0.", "backbone.patch_embed", "backbone.pos_embed"))
                   for n in changed)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")
def test_cuda_matches_cpu(tiny_weight_file):
    model = M2dAtSpatial(tiny_weight_file).eval()
    x = torch.randn(2, 4, SR * 2)
    with torch.no_grad():
        cpu = model(x)
        gpu = model.cuda()(x.cuda()).cpu()
    assert torch.allclose(cpu, gpu, atol=1e-3)
