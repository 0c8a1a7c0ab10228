"""PIT cross-entropy label loss: official parity and slot-order invariance."""
import torch

from espnet2_ext.s5.labels import labels_to_stack
from espnet2_ext.s5.loss import LabelPITLoss, loss_choices


def test_matches_official_label_loss(parity_dir):
    from parity import seeded

    expected = seeded.load_expected("label_loss.json")
    loss_fn = LabelPITLoss()
    cases = seeded.label_loss_cases(12, 20)
    assert len(cases) == len(expected["batches"]) == 20
    for case, exp in zip(cases, expected["batches"]):
        per_item, perm = loss_fn.per_item(case["logits"], case["target"])
        assert (per_item - torch.tensor(exp["per_item"])).abs().max() <= 1e-4   # absolute
        for b, unique in enumerate(exp["perm_unique"]):
            if unique:
                assert perm[b].tolist() == exp["best_perm"][b]
        loss, _ = loss_fn(case["logits"], case["target"])
        assert abs(loss.item() - exp["loss"]) <= 1e-4


def test_invariant_to_prediction_slot_order_and_differentiable():
    target = labels_to_stack(["Speech", "Dishes", "silence"]).unsqueeze(0)
    logits = (5 * target + 0.1 * torch.randn_like(target)).requires_grad_(True)
    shuffled = logits[:, [2, 0, 1]]
    a, perm_a = LabelPITLoss()(logits, target)
    b, perm_b = LabelPITLoss()(shuffled, target)
    assert torch.allclose(a, b)
    assert perm_a.tolist() == [[0, 1, 2]] and perm_b.tolist() == [[1, 2, 0]]
    b.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_registered_in_loss_choices():
    assert loss_choices.get_class("label_pit") is LabelPITLoss
