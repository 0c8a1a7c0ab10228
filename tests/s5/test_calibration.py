"""Calibrated slot decisions: the rule, the fit on synthetic logits with a known optimum, the file."""
from __future__ import annotations

import math

import pytest
import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.calibration import (Calibration, accuracy_table, all_masks, argmax_masks, calibrated_slots,
                                        capi_sdri_table, decide, decision_masks, fit_calibration,
                                        labels_to_indices, mask_index, mixture_accuracy, slot_candidates,
                                        table_score)
from espnet2_ext.s5.labels import CLASSES, SILENCE_INDEX

S = 3


def logits_for(rows):
    """rows: per mixture, per slot (class index, probability of that class) -> logits [N, 3, 19].

    The remaining mass goes to silence, so softmax gives back exactly the wanted probability.
    """
    out = torch.full((len(rows), S, len(CLASSES) + 1), -30.0)
    for n, row in enumerate(rows):
        for s, (c, p) in enumerate(row):
            out[n, s, c] = math.log(p)
            out[n, s, SILENCE_INDEX] = math.log(1 - p)
    return out


def fit_accuracy(logits, ref, **kw):
    """The accuracy objective, as s5_calibrate runs it."""
    return fit_calibration(logits, {"accuracy": accuracy_table(slot_candidates(logits)[0], ref)}, **kw)


def test_decide_thresholds_and_empty_rule():
    cls = torch.tensor([[0, 1, 2], [3, 3, 4]])
    prob = torch.tensor([[0.9, 0.3, 0.6], [0.2, 0.25, 0.1]])
    th = torch.full((18,), 0.5)
    th[1] = 0.2
    assert decide(cls, prob, th, 0.0).tolist() == [[0, 1, 2], [18, 18, 18]]
    th[3] = 0.2
    assert decide(cls, prob, th, 0.0).tolist() == [[0, 1, 2], [3, 3, 18]]
    assert decide(cls, prob, th, 0.3).tolist() == [[0, 1, 2], [18, 18, 18]]   # mixture max 0.25 < 0.3


def test_slot_candidates_ignore_silence_and_shapes():
    logits = logits_for([[(5, 0.2), (6, 0.7), (7, 0.51)]])
    cls, prob = slot_candidates(logits)
    assert cls.tolist() == [[5, 6, 7]] and torch.allclose(prob, torch.tensor([[0.2, 0.7, 0.51]]), atol=1e-5)
    with pytest.raises(S5InputError):
        slot_candidates(torch.zeros(2, 3, 18))


def test_fit_finds_per_class_thresholds_inside_the_known_gap():
    # class c: true slots have p in [lo_c + 0.1, 1), false alarms p < lo_c, lo_c differs per class;
    # a single global threshold (or the argmax at p = 0.5) cannot get every mixture right.
    g = torch.Generator().manual_seed(0)
    lo = [0.15 + 0.04 * c for c in range(18)]   # 0.15 .. 0.83
    rows, refs = [], []
    for n in range(120):
        row, ref = [], []
        for s in range(S):
            c = int(torch.randint(0, 18, (1,), generator=g))
            u = float(torch.rand(1, generator=g))
            if torch.rand(1, generator=g) < 0.5:   # a real event of class c
                row.append((c, lo[c] + 0.1 + u * (0.99 - lo[c] - 0.1)))
                ref.append(c)
            else:                                  # a false alarm of class c
                row.append((c, 0.01 + u * (lo[c] - 0.02)))
                ref.append(SILENCE_INDEX)
        rows.append(row)
        refs.append(ref)
    logits, ref = logits_for(rows), torch.tensor(refs)
    cal = fit_accuracy(logits, ref)
    assert cal.info["valid_accuracy_mix"]["calibrated"] == 100.0
    assert cal.info["valid_accuracy_mix"]["argmax"] < 100.0
    cls, prob = slot_candidates(logits)
    for c in range(18):
        pos, neg = prob[(cls == c) & (ref == c)], prob[(cls == c) & (ref != c)]
        if pos.numel() and neg.numel():
            assert float(neg.max()) < cal.thresholds[c] <= float(pos.min()), c
    est = decide(cls, prob, torch.tensor(cal.thresholds), cal.min_probability)
    assert mixture_accuracy(est, ref) == 100.0


def test_fit_uses_the_empty_mixture_rule_when_thresholds_cannot_separate():
    # mixture A: class 0 at 0.4 is real (beside class 1 at 0.9); mixture B is empty but shows
    # class 0 at 0.45: no threshold of class 0 gets both right, min_probability in (0.45, 0.9] does.
    logits = logits_for([[(1, 0.9), (0, 0.4), (2, 0.05)], [(0, 0.45), (2, 0.05), (3, 0.05)]])
    ref = torch.tensor([[1, 0, SILENCE_INDEX], [SILENCE_INDEX] * 3])
    cal = fit_accuracy(logits, ref)
    assert cal.info["valid_accuracy_mix"]["calibrated"] == 100.0
    assert 0.45 < cal.min_probability <= 0.9
    assert cal.thresholds[0] <= 0.4
    labels, probs = calibrated_slots(logits, cal)
    assert labels == [[CLASSES[1], CLASSES[0], "silence"], ["silence"] * 3]
    assert probs.shape == (2, 3)


def test_file_round_trip_and_bad_files(tmp_path):
    cal = Calibration([0.1 * (i % 10) for i in range(18)], 0.3, {"n_mixtures": 5})
    path = tmp_path / "calibration.json"
    import json
    path.write_text(json.dumps(cal.to_json()))
    back = Calibration.from_file(path)
    assert back.thresholds == pytest.approx(cal.thresholds) and back.min_probability == 0.3
    assert back.info["n_mixtures"] == 5
    path.write_text(json.dumps({"version": 1, "thresholds": {"Speech": 0.5}}))
    with pytest.raises(S5InputError, match="no threshold"):
        Calibration.from_file(path)
    with pytest.raises(S5InputError):
        Calibration.from_file(tmp_path / "missing.json")
    with pytest.raises(S5InputError, match="unknown label"):
        labels_to_indices([["NotAClass", "silence", "silence"]])


def test_sorted_row_equality_is_the_official_mixture_accuracy():
    from espnet2_ext.s5.calibration import mixture_correct
    from espnet2_ext.s5.metrics.label_accuracy import label_counts_batch
    g = torch.Generator().manual_seed(1)
    est = torch.randint(15, 19, (500, 3), generator=g)   # few classes: many equal multisets
    ref = torch.randint(15, 19, (500, 3), generator=g)
    assert torch.equal(mixture_correct(est, ref), label_counts_batch(est, ref)["acc"])


def test_masks_round_trip_and_argmax_is_a_mask():
    masks = all_masks(3)
    assert masks.shape == (8, 3) and torch.equal(mask_index(masks), torch.arange(8))
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(400, 3, 19, generator=g) * 3
    cls, _ = slot_candidates(logits)
    from espnet2_ext.s5.calibration import masked_classes
    assert torch.equal(masked_classes(cls, masks[argmax_masks(logits)]), logits.argmax(dim=-1))


def test_accuracy_table_scores_equal_the_direct_accuracy():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(300, 3, 19, generator=g) * 2
    ref = torch.randint(15, 19, (300, 3), generator=g)
    cls, prob = slot_candidates(logits)
    table = accuracy_table(cls, ref)
    th = torch.rand(5, 18, generator=g) * 0.5            # five threshold vectors scored at once
    scores = table_score(table, decision_masks(cls, prob, th, 0.1))
    assert scores.shape == (5,)
    for k in range(5):
        assert float(scores[k]) == pytest.approx(mixture_accuracy(decide(cls, prob, th[k], 0.1), ref))


def test_table_score_leaves_nan_mixtures_out():
    table = torch.tensor([[float("nan"), 4.0], [2.0, 6.0]])
    assert float(table_score(table, torch.tensor([0, 0]))) == 2.0     # only mixture 1 counts
    assert float(table_score(table, torch.tensor([1, 1]))) == 5.0


def test_capi_objective_reaches_the_best_per_mixture_choice():
    # one candidate slot per mixture (distinct classes), the others never worth activating:
    # the optimum takes, per mixture, the better of "slot 0 silent" and "slot 0 active"
    g = torch.Generator().manual_seed(4)
    n = 18
    rows = [[(c, 0.05 + 0.9 * float(torch.rand(1, generator=g))), (17, 0.01), (17, 0.01)] for c in range(n)]
    rows[17][0] = (16, rows[17][0][1])
    logits = logits_for(rows)
    table = torch.full((n, 8), -100.0)
    table[:, :2] = torch.randn(n, 2, generator=g) * 5
    cal = fit_calibration(logits, {"capi_sdri": table}, objective="capi_sdri")
    best = float(table[:, :2].max(dim=1).values.mean())
    assert cal.info["valid_capi_sdri"]["calibrated"] == pytest.approx(best, abs=1e-5)
    assert cal.info["valid_capi_sdri"]["argmax"] <= best + 1e-6
    assert cal.info["objective"] == "capi_sdri"
    with pytest.raises(S5InputError, match="objective"):
        fit_calibration(logits, {"capi_sdri": table}, objective="accuracy")
    with pytest.raises(S5InputError, match="does not match"):
        fit_calibration(logits, {"capi_sdri": table[:, :4]}, objective="capi_sdri")


def test_capi_sdri_table_queries_every_mask_in_decoding_order():
    T = 4000
    g = torch.Generator().manual_seed(5)
    ref_wavs = torch.randn(3, 1, T, generator=g)
    ref_wavs[2] = 0
    ref_labels = [CLASSES[0], CLASSES[1], "silence"]
    mixture = (ref_wavs[0] + ref_wavs[1]).expand(4, -1) + 0.3 * torch.randn(4, T, generator=g)
    calls = []

    def separate(mix, labels):   # a perfect separator for the reference classes, noise otherwise
        calls.append(labels)
        out = torch.randn(len(labels), 3, 1, T, generator=g)
        for b, row in enumerate(labels):
            for s, lab in enumerate(row):
                if lab in ref_labels[:2]:
                    out[b, s] = ref_wavs[ref_labels.index(lab)]
        return out

    cls = torch.tensor([5, 1, 0])                       # slot 0 a false alarm, slots 1 and 2 real
    table = capi_sdri_table(separate, mixture, cls, ref_labels, ref_wavs)
    assert table.shape == (8,) and len(calls) == 1 and len(calls[0]) == 7
    assert all(row[-1] == "silence" for row in calls[0][:-1])            # silence last, as decoded
    assert calls[0][1] == [CLASSES[1], "silence", "silence"]            # mask 2 = slot 1 only
    assert calls[0][2] == [CLASSES[5], CLASSES[1], "silence"]           # mask 3 = slots 0 and 1
    assert float(table[0]) == 0.0                                       # nothing output: two misses
    assert int(table.argmax()) == 0b110                                 # exactly the real slots
    empty = capi_sdri_table(separate, mixture, cls, ["silence"] * 3, torch.zeros(3, 1, T))
    assert torch.isnan(empty[0]) and torch.equal(empty[1:], torch.zeros(7))   # false alarms score 0
