"""Label metrics (official parity) and the label confusion."""
import numpy as np
import torch

from espnet2_ext.s5.labels import CLASS_TO_INDEX, SILENCE_INDEX
from espnet2_ext.s5.metrics import confusion_matrix, confusion_pairs, label_accuracies, label_counts


def test_matches_official_label_metric(metric_cases):
    cases, expected = metric_cases
    counts = [label_counts(c["est_lb"], c["ref_lb"]) for c in cases]
    assert counts == expected["label"]
    assert label_accuracies(counts) == expected["accuracy"]


def test_multiset_counts():
    assert label_counts(["A", "A", "silence"], ["A", "silence", "silence"]) == {"acc": False, "tp": 1, "fp": 1, "fn": 0}
    assert label_counts(["silence"] * 3, ["silence"] * 3) == {"acc": True, "tp": 0, "fp": 0, "fn": 0}
    acc = label_accuracies([{"acc": True, "tp": 0, "fp": 0, "fn": 0}])
    assert acc == {"accuracy_mix": 100.0, "accuracy_src": 100.0}


def test_confusion_pairs_use_scores_for_wrong_labels():
    est, ref = ["Speech", "Cough", "Dishes"], ["Dishes", "Typing", "Pour"]
    score = torch.full((3, 3), -10.0)
    score[1, 0], score[2, 1] = 20.0, 15.0          # est Speech separates ref Typing, est Cough ref Pour
    pairs = confusion_pairs(est, ref, score)
    assert sorted(pairs) == [("Dishes", "Dishes"), ("Pour", "Cough"), ("Typing", "Speech")]
    pairs = confusion_pairs(["Speech", "silence", "silence"], ["Dishes", "Cough", "silence"], None)
    assert sorted(pairs) == [("Cough", "silence"), ("Dishes", "Speech")]
    m = confusion_matrix(pairs + [("silence", "Pour")])
    assert m.shape == (19, 19) and m.sum() == 3
    assert m[CLASS_TO_INDEX["Cough"], SILENCE_INDEX] == 1 and m[SILENCE_INDEX, CLASS_TO_INDEX["Pour"]] == 1
    assert np.trace(m) == 0
