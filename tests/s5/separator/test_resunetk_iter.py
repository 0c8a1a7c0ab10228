"""Iterative refinement ResUNetK: shapes, silent slots, the passes' dependence, per-pass loss."""
from __future__ import annotations

import pytest
import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.espnet_model_sep import ESPnetS5SeparatorModel
from espnet2_ext.s5.labels import NUM_CLASSES, labels_to_query
from espnet2_ext.s5.loss import loss_choices
from espnet2_ext.s5.separator import ResUNet30Iterative, separator_choices

L = 3200


def query(*rows):
    return torch.stack([labels_to_query(list(r)) for r in rows])


def test_passes_shapes_and_silent_slots():
    torch.manual_seed(0)
    sep = ResUNet30Iterative(base_channels=4, n_passes=3).eval()
    mix, q = torch.randn(2, 4, L), query(["Speech", "silence", "Cough"], ["Dishes", "Dishes", "silence"])
    with torch.no_grad():
        passes, mask = sep.separate_passes(mix, q)
        last = sep.separate(mix, q)
        official = sep({"mixture": mix, "label_vector": q})
    assert len(passes) == 3 and all(p.shape == (2, 3, 1, L) for p in passes)
    assert mask.tolist() == [[1, 0, 1], [1, 1, 0]]
    for p in passes:
        assert p[0, 1].abs().max() == 0 and p[1, 2].abs().max() == 0
        assert p[0, 0].abs().max() > 0
    assert not torch.allclose(passes[0], passes[1])     # the previous estimate changes the output
    assert torch.equal(last, passes[-1]) and torch.equal(official["waveform"], passes[-1])
    assert sep.base.pre_conv.in_channels == 4 + 3       # mixture + one channel per slot
    assert sep.base.out_conv.in_channels == 4 + 3
    assert separator_choices.get_class("resunetk_iter") is ResUNet30Iterative


@pytest.mark.parametrize("conf", [{"n_passes": 0}, {"n_passes": "2"}, {"detach_between_passes": "yes"}])
def test_bad_conf_names_the_key(conf):
    with pytest.raises(S5InputError, match=f"separator_conf: {next(iter(conf))}"):
        ResUNet30Iterative(base_channels=4, **conf)


@pytest.mark.parametrize("detach", [True, False])
def test_detach_cuts_the_gradient_between_passes(detach):
    torch.manual_seed(0)
    sep = ResUNet30Iterative(base_channels=4, n_passes=2, detach_between_passes=detach)
    passes, _ = sep.separate_passes(torch.randn(1, 4, L), query(["Speech", "silence", "silence"]))
    grad = torch.autograd.grad(passes[1].sum(), passes[0], allow_unused=True)[0]
    assert (grad is None) == detach


def test_model_loss_is_the_mean_of_the_per_pass_losses():
    """loss = (1/K) sum_k PIT(est_k, ref, labels), each term reported as loss_pass<k>."""
    torch.manual_seed(0)
    sep = ResUNet30Iterative(base_channels=4, n_passes=3)
    pit = loss_choices.get_class("capi_pit")()
    model = ESPnetS5SeparatorModel(sep, pit)
    mix = torch.randn(2, 4, L)
    q = query(["Speech", "silence", "silence"], ["Dishes", "Cough", "silence"])
    refs = torch.randn(2, 3, 1, L) * torch.tensor([[1., 0, 0], [1, 1, 0]])[..., None, None]
    loss, stats, weight = model(mix, q, refs)
    passes, _ = sep.separate_passes(mix, q)   # train mode: BatchNorm uses batch statistics, same outputs
    expected = [pit(p, refs, q.reshape(2, 3, NUM_CLASSES))[0] for p in passes]
    assert set(stats) == {"loss", "loss_pass1", "loss_pass2", "loss_pass3"}
    for k, e in enumerate(expected, start=1):
        assert torch.allclose(stats[f"loss_pass{k}"], e.detach())
    assert torch.allclose(loss, torch.stack(expected).mean()) and weight.item() == 2
    assert len({round(v.item(), 4) for k, v in stats.items() if k != "loss"}) == 3   # the passes differ
    loss.backward()
    assert sep.base.pre_conv.weight.grad.abs().sum() > 0 and sep.label_embedding[0].weight.grad.abs().sum() > 0
