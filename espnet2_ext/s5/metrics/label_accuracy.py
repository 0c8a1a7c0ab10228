"""Label metrics of DCASE2026 Task 4 (official ``LabelMetric``, spec §3.2) and a label confusion.

Per mixture, 'silence' is removed and the label *multisets* are compared:
tp = |est ∩ ref|, fp = |est| − tp, fn = |ref| − tp, acc = (est == ref).

* ``accuracy_mix`` = 100 · mean(acc) over all mixtures (empty vs empty is correct);
* ``accuracy_src`` = 100 · ΣTP / (ΣTP + ΣFP + ΣFN), pooled over the dataset.
"""
from __future__ import annotations

from collections import Counter
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from espnet2_ext.s5.labels import CLASS_TO_INDEX, LABELS_WITH_SILENCE, SILENCE, SILENCE_INDEX
from espnet2_ext.s5.metrics.capi_sdri import best_assignment


def label_counts(est_labels: Sequence[str], ref_labels: Sequence[str]) -> Dict[str, object]:
    """{acc: bool, tp, fp, fn} of one mixture (the official per-mixture 'label_metrics' value)."""
    est = Counter(lab for lab in est_labels if lab != SILENCE)
    ref = Counter(lab for lab in ref_labels if lab != SILENCE)
    tp = sum((est & ref).values())
    fp, fn = sum(est.values()) - tp, sum(ref.values()) - tp
    return {"acc": est == ref, "tp": tp, "fp": fp, "fn": fn}


def label_accuracies(counts: Sequence[Dict[str, object]]) -> Dict[str, float]:
    """{accuracy_mix, accuracy_src} in percent from the per-mixture :func:`label_counts`.

    If no mixture has an event on either side, accuracy_src is 100 (nothing to get
    wrong; the official code would divide by zero).
    """
    if not counts:
        raise ValueError("no mixtures to compute label accuracies on")
    tp, fp, fn = (sum(c[k] for c in counts) for k in ("tp", "fp", "fn"))
    return {
        "accuracy_mix": sum(bool(c["acc"]) for c in counts) * 100 / len(counts),
        "accuracy_src": tp * 100 / (tp + fp + fn) if tp + fp + fn else 100.0,
    }


def label_counts_batch(est: torch.Tensor, ref: torch.Tensor, n_classes: int = SILENCE_INDEX
                       ) -> Dict[str, torch.Tensor]:
    """:func:`label_counts` of a batch, on the tensors' device (no host sync).

    est, ref: [B, S] class indices, ``n_classes`` (18) = silence. Per mixture, the label
    multisets are class histograms h [B, n_classes]: tp = sum(min(h_est, h_ref)).
    Returns {acc: [B] bool, tp, fp, fn: [B] int64}.
    """
    def histogram(idx: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(idx.long(), n_classes + 1)[..., :n_classes].sum(dim=1)

    h_est, h_ref = histogram(est), histogram(ref)
    tp = torch.minimum(h_est, h_ref).sum(dim=-1)
    return {"acc": (h_est == h_ref).all(dim=-1), "tp": tp,
            "fp": h_est.sum(dim=-1) - tp, "fn": h_ref.sum(dim=-1) - tp}


# ------------------------------------------------------------------------------------------
# label confusion (diagnostic, not an official metric)
# ------------------------------------------------------------------------------------------
def _match(
    ref_slots: List[int], est_slots: List[int], score: Optional[torch.Tensor]
) -> List[Tuple[int, int]]:
    """Pair references with estimates: by best mean score if given, else in slot order."""
    if not ref_slots or not est_slots:
        return []
    if score is None:
        return list(zip(ref_slots, est_slots))
    r, e = best_assignment(score[ref_slots][:, est_slots])
    return [(ref_slots[i], est_slots[j]) for i, j in zip(r.tolist(), e.tolist())]


def confusion_pairs(
    est_labels: Sequence[str], ref_labels: Sequence[str], score: Optional[torch.Tensor] = None
) -> List[Tuple[str, str]]:
    """(reference label, estimated label) pairs of one mixture, 'silence' marking misses/false alarms.

    Same-class slots are matched first (the multiset tp). Left-over references and
    estimates are then paired with each other (a wrong label: ref A -> est B), by the
    highest mean ``score`` [n_ref_slots, n_est_slots] (e.g. SNR of est j vs ref i) when
    given, else in slot order. What is still left becomes (ref, 'silence') for a miss or
    ('silence', est) for a false alarm.
    """
    ref_left = [i for i, lab in enumerate(ref_labels) if lab != SILENCE]
    est_left = [j for j, lab in enumerate(est_labels) if lab != SILENCE]
    pairs: List[Tuple[int, int]] = []
    for label in sorted(set(ref_labels[i] for i in ref_left)):
        pairs += _match([i for i in ref_left if ref_labels[i] == label],
                        [j for j in est_left if est_labels[j] == label], score)
    matched_ref, matched_est = {i for i, _ in pairs}, {j for _, j in pairs}
    ref_left = [i for i in ref_left if i not in matched_ref]
    est_left = [j for j in est_left if j not in matched_est]
    cross = _match(ref_left, est_left, score)
    out = [(ref_labels[i], est_labels[j]) for i, j in pairs + cross]
    out += [(ref_labels[i], SILENCE) for i in ref_left if i not in {i for i, _ in cross}]
    out += [(SILENCE, est_labels[j]) for j in est_left if j not in {j for _, j in cross}]
    return out


def confusion_matrix(pairs: Iterable[Tuple[str, str]]) -> np.ndarray:
    """Counts [19, 19]: rows = reference label, columns = estimate (order CLASSES + silence)."""
    index = dict(CLASS_TO_INDEX, **{SILENCE: SILENCE_INDEX})
    matrix = np.zeros((len(LABELS_WITH_SILENCE),) * 2, dtype=np.int64)
    for ref, est in pairs:
        matrix[index[ref], index[est]] += 1
    return matrix
