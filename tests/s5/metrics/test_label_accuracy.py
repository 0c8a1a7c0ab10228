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


def test_batch_counts_on_tensors_equal_the_per_mixture_counts():
    from espnet2_ext.s5.labels import index_to_label
    from espnet2_ext.s5.metrics.label_accuracy import label_counts, label_counts_batch

    g = torch.Generator().manual_seed(0)
    est = torch.randint(0, 19, (200, 3), generator=g)
    ref = torch.randint(0, 19, (200, 3), generator=g)
    ref[:50] = est[:50].flip(-1)                                   # same multisets, other order
    est[50:80] = ref[50:80] = 18                                   # empty vs empty
    got = label_counts_batch(est, ref)
    for b in range(200):
        want = label_counts([index_to_label(int(i)) for i in est[b]], [index_to_label(int(i)) for i in ref[b]])
        assert (bool(got["acc"][b]), int(got["tp"][b]), int(got["fp"][b]), int(got["fn"][b])) == \
            (want["acc"], want["tp"], want["fp"], want["fn"]), b
