"""The SED tagger (espnet2_ext.s5.tagger.m2d_sed): shapes, time tokens, interpolation, the slot path."""
from __future__ import annotations

import torch

from espnet2_ext.s5.activity import n_activity_frames
from espnet2_ext.s5.espnet_model_tag import ESPnetS5TaggerModel
from espnet2_ext.s5.labels import labels_to_stack
from espnet2_ext.s5.loss import LabelPITLoss
from espnet2_ext.s5.tagger import M2dAtSpatial, M2dSedSpatial
from espnet2_ext.s5.tagger.m2d_sed import interpolate_to_frames, time_tokens, token_centres


def test_forward_frames_shapes_and_unchanged_slot_logits(tiny_weight_file):
    torch.manual_seed(0)
    sed = M2dSedSpatial(tiny_weight_file).eval()
    base = M2dAtSpatial(tiny_weight_file).eval()
    base.load_state_dict({k: v for k, v in sed.state_dict().items() if not k.startswith("frame_head.")})
    x = torch.randn(2, 4, 32000 * 3 // 2)                 # 1.5 s
    with torch.no_grad():
        slots, frames = sed.forward_frames(x)
        assert slots.shape == (2, 3, 19) and frames.shape == (2, n_activity_frames(x.shape[-1]), 18)
        torch.testing.assert_close(slots, base(x))        # the slot path is the baseline tagger's
        torch.testing.assert_close(sed(x), slots)
        p = sed.frame_probabilities(x)
    assert p.min() >= 0 and p.max() <= 1 and sed.needs_activity


def test_time_tokens_average_the_frequency_patches_of_each_step(tiny_weight_file, tiny_stacked_weight_file):
    m2d = M2dAtSpatial(tiny_weight_file).m2d
    f, t_full = m2d.backbone.grid_size
    tokens = torch.arange(2 * f * 3, dtype=torch.float32).reshape(1, f * 3, 2)   # one chunk, 3 steps, (f t)
    out = time_tokens(m2d, tokens)
    assert out.shape == (1, 3, 2)
    torch.testing.assert_close(out[0, 1], tokens[0, 1::3].mean(0))
    two_chunks = torch.randn(1, f * t_full + f * 2, 5)
    assert time_tokens(m2d, two_chunks).shape == (1, t_full + 2, 5)
    stacked = M2dAtSpatial(tiny_stacked_weight_file).m2d
    assert time_tokens(stacked, two_chunks) is two_chunks
    centres = token_centres(m2d, t_full + 1)
    assert centres[0] == 7.5 * 320 and centres[1] == 23.5 * 320
    assert centres[t_full] == (m2d.input_size[1] + 7.5) * 320     # the second chunk starts at frame 1001


def test_interpolation_to_frames_is_linear_between_token_centres():
    values = torch.tensor([[[0.0], [8.0]]])                          # at samples 320 and 2880
    out = interpolate_to_frames(values, torch.tensor([320.0, 2880.0], dtype=torch.float64), 6)
    # frame centres 320, 960, 1600, 2240, 2880, 3520 -> 0, 2, 4, 6, 8, 8 (held beyond the last)
    torch.testing.assert_close(out[0, :, 0], torch.tensor([0.0, 2.0, 4.0, 6.0, 8.0, 8.0]))


def test_the_training_loss_adds_the_weighted_frame_bce(tiny_weight_file):
    torch.manual_seed(0)
    sed = M2dSedSpatial(tiny_weight_file, frame_loss_weight=0.5)
    model = ESPnetS5TaggerModel(sed, LabelPITLoss())
    x = torch.randn(2, 4, 32000)
    labels = torch.stack([labels_to_stack(["Speech", "silence", "silence"]), labels_to_stack(["Cough", "Dishes"])])
    activity = torch.zeros(2, 3, n_activity_frames(x.shape[-1]))
    activity[:, :2, 10:30] = 1
    loss, stats, weight = model(x, labels, activity=activity)
    assert torch.allclose(loss, stats["loss_slot"] + 0.5 * stats["loss_frame"])
    assert 0 <= stats["frame_f1"] <= 1 and weight == 2
    loss.backward()
    assert sed.frame_head.out.weight.grad.abs().sum() > 0
    plain, plain_stats, _ = model(x, labels)                # no activity: the baseline loss only
    assert "loss_frame" not in plain_stats
    torch.testing.assert_close(plain.detach(), stats["loss_slot"])
