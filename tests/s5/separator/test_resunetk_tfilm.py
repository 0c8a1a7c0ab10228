"""The Time-FiLM separator (espnet2_ext.s5.separator.resunetk_tfilm)."""
from __future__ import annotations

import pytest
import torch

from espnet2_ext.s5.activity import n_activity_frames
from espnet2_ext.s5.separator import ResUNet30, ResUNet30TimeFiLM
from espnet2_ext.s5.separator.resunetk_tfilm import film_time_factors

L = 16000                           # 0.5 s


def query(*slots):
    q = torch.zeros(len(slots), 54)
    for b, row in enumerate(slots):
        for s, c in row:
            q[b, s * 18 + c] = 1
    return q


@pytest.fixture()
def pair():
    torch.manual_seed(0)
    tfilm = ResUNet30TimeFiLM(base_channels=8).eval()
    base = ResUNet30(base_channels=8).eval()
    missing, unexpected = base.load_state_dict(tfilm.state_dict(), strict=False)
    assert not missing and all(k.startswith(("activity_embedding.", "time_film.")) for k in unexpected)
    return tfilm, base


def test_untrained_time_film_equals_the_baseline_separator(pair):
    tfilm, base = pair
    x, q = torch.randn(2, 4, L), query([(0, 3)], [(0, 1), (1, 7)])
    a = torch.rand(2, 3, n_activity_frames(L))
    with torch.no_grad():
        y = tfilm.separate(x, q, a)
        assert y.shape == (2, 3, 1, L)
        torch.testing.assert_close(y, base.separate(x, q), atol=1e-5, rtol=1e-4)
        assert y[0, 1:].abs().max() == 0                  # silent slots stay zero


def test_activity_changes_the_output_only_where_and_when_it_acts(pair):
    tfilm, _ = pair
    torch.manual_seed(1)
    for layer in tfilm.time_film.values():
        torch.nn.init.normal_(layer.weight, std=0.05)
    x, q = torch.randn(1, 4, L), query([(0, 3)])
    a_on, a_off = torch.zeros(1, 3, n_activity_frames(L)), torch.zeros(1, 3, n_activity_frames(L))
    a_on[0, 0] = 1
    with torch.no_grad():
        y_on, y_off = tfilm.separate(x, q, a_on), tfilm.separate(x, q, a_off)
        a_other = a_off.clone()
        a_other[0, 1] = 1                                  # activity of a silent slot: no query, no effect
        y_other = tfilm.separate(x, q, a_other)
    assert (y_on - y_off).abs().max() > 1e-4
    torch.testing.assert_close(y_other, y_off)


def test_betas_vary_in_time_at_each_levels_resolution(pair):
    tfilm, _ = pair
    torch.nn.init.normal_(tfilm.time_film["encoder_block1->conv_block1->beta1"].weight)
    torch.nn.init.normal_(tfilm.time_film["conv_block7a->conv_block1->beta1"].weight)
    a = torch.zeros(1, 3, n_activity_frames(L))
    a[0, 0, :10] = 1
    betas = tfilm.time_betas(query([(0, 3)]), a, L)
    n_pad = -(-(L // 160 + 1) // 32) * 32                  # STFT frames padded to a multiple of 32
    b1 = betas["encoder_block1"]["conv_block1"]["beta1"]
    b7 = betas["conv_block7a"]["conv_block1"]["beta1"]
    assert b1.shape == (1, 8, n_pad, 1) and b7.shape == (1, 12 * 8, n_pad // 32, 1)
    assert not torch.allclose(b1[:, :, 0], b1[:, :, 40 + 4])    # active (frame < 40) vs inactive
    assert torch.allclose(b1[:, :, 0], b1[:, :, 39])
    assert film_time_factors()["decoder_block6->conv_block2"] == 1


def test_missing_or_misshaped_activity_is_a_clear_error(pair):
    tfilm, _ = pair
    x, q = torch.randn(1, 4, L), query([(0, 3)])
    with pytest.raises(ValueError, match="SED tagger"):
        tfilm.separate(x, q)
    with pytest.raises(ValueError, match="activity"):
        tfilm.separate(x, q, torch.zeros(1, 2, 50))


def test_gradients_reach_the_activity_embedding_in_training(pair):
    tfilm, _ = pair
    tfilm.train()
    torch.nn.init.normal_(tfilm.time_film["encoder_block2->conv_block1->beta1"].weight)
    x, q = torch.randn(2, 4, L), query([(0, 3)], [(1, 2)])
    tfilm.separate(x, q, torch.ones(2, 3, n_activity_frames(L))).pow(2).mean().backward()
    assert tfilm.activity_embedding[0].weight.grad.abs().sum() > 0
    assert not tfilm.time_film["decoder_block1->beta2"].weight.requires_grad
