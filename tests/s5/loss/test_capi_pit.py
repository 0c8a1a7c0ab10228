"""Class-aware PIT −SNR loss: official parity, permutation rules, gradients."""
import pytest
import torch

from espnet2_ext.s5.labels import labels_to_query
from espnet2_ext.s5.loss import ClassAwarePITLoss, loss_choices
from espnet2_ext.s5.loss.capi_pit import FORBIDDEN, class_aware_cost


def test_matches_official_pit_loss(parity_dir):
    from parity import seeded

    expected = seeded.load_expected("pit_loss.json")
    loss_fn = ClassAwarePITLoss()
    cases = seeded.pit_cases(11, 20)
    assert len(cases) == len(expected["batches"]) == 20
    for case, exp in zip(cases, expected["batches"]):
        per_item, perm = loss_fn.per_item(case["pred"], case["target"], case["label"])
        assert per_item.dtype == torch.float64
        official = torch.tensor(exp["best_metric"], dtype=torch.float64)
        assert (per_item - official).abs().max() <= 1e-4        # dB, absolute (no relative slack)
        assert perm.tolist() == exp["best_perm"]
        loss, _ = loss_fn(case["pred"], case["target"], case["label"])
        assert abs(loss.item() - exp["loss"]) <= 1e-4


def _batch(labels, T=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.randn(1, 3, 1, T, generator=g)
    label = labels_to_query(labels).reshape(1, 3, 18)
    target = target * label.abs().sum(-1).reshape(1, 3, 1, 1)     # silent targets are zeros
    return target, label


def test_same_class_swap_is_undone_but_cross_class_is_not():
    target, label = _batch(["Speech", "Speech", "Dishes"])
    pred = target[:, [1, 0, 2]] + 0.01 * torch.randn_like(target)
    loss, perm = ClassAwarePITLoss()(pred, target, label)
    assert perm.tolist() == [[1, 0, 2]]
    assert loss.item() < -30                                          # ~ −40 dB: swapped back

    target, label = _batch(["Speech", "Cough", "Dishes"])
    pred = target[:, [1, 0, 2]]
    _, perm = ClassAwarePITLoss()(pred, target, label)
    assert perm.tolist() == [[0, 1, 2]]                               # classes never swap


def test_silent_slots_score_zero_and_forbid_swaps():
    target, label = _batch(["Speech", "silence", "silence"])
    cost = class_aware_cost(torch.randn_like(target), target, label)[0]
    assert cost[1, 1] == 0 and cost[2, 2] == 0
    assert cost[1, 2] == FORBIDDEN and cost[0, 1] == FORBIDDEN
    # the loss of a mixture with one event is the −SNR of that slot / 3
    pred = target + 0.1 * torch.randn_like(target)
    loss, _ = ClassAwarePITLoss()(pred, target, label)
    assert loss.item() == pytest.approx(class_aware_cost(pred, target, label)[0, 0, 0].item() / 3)
    assert loss.item() < 0


def test_accepts_3d_inputs_and_flat_labels():
    target, label = _batch(["Speech", "Speech", "silence"])
    pred = torch.randn_like(target)
    a = ClassAwarePITLoss()(pred, target, label)[0]
    b = ClassAwarePITLoss()(pred[:, :, 0], target[:, :, 0], label.reshape(1, 54))[0]
    assert torch.equal(a, b)


def test_gradients_flow_to_active_predictions_only():
    target, label = _batch(["Speech", "Dishes", "silence"])
    pred = (target + 0.3 * torch.randn_like(target)).requires_grad_(True)
    loss, _ = ClassAwarePITLoss()(pred, target, label)
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    assert pred.grad[0, :2].abs().sum() > 0
    assert pred.grad[0, 2].abs().sum() == 0                          # silent slot: no gradient
    # a gradient step improves the loss
    with torch.no_grad():
        stepped = pred - 1e-3 * pred.grad / pred.grad.norm()
    assert ClassAwarePITLoss()(stepped, target, label)[0] < loss


def test_registered_in_loss_choices():
    assert loss_choices.get_class("capi_pit") is ClassAwarePITLoss


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    target, label = _batch(["Speech", "Speech", "silence"])
    pred = (target[:, [1, 0, 2]] + 0.1 * torch.randn_like(target)).requires_grad_(True)
    cpu_loss, cpu_perm = ClassAwarePITLoss()(pred, target, label)
    gpu_pred = pred.detach().cuda().requires_grad_(True)
    gpu_loss, gpu_perm = ClassAwarePITLoss().cuda()(gpu_pred, target.cuda(), label.cuda())
    gpu_loss.backward()
    assert gpu_perm.cpu().tolist() == cpu_perm.tolist()
    assert abs(gpu_loss.item() - cpu_loss.item()) < 1e-4
    assert torch.isfinite(gpu_pred.grad).all()
