"""Label-slot vectors of the 18 DCASE2026 Task 4 classes (defined in :mod:`espnet2_ext.s5.official`).

Two slot encodings are used by the baseline:
  * AT (tagger):    ``stack`` + ``onehot``  -> [n_slots, 19], silence = index 18
  * SS (separator): ``concat`` + ``zeros``  -> [n_slots * 18], silence = all zeros
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import torch

from espnet2_ext.s5.official import CLASSES, N_SLOTS, SILENCE

LABELS_WITH_SILENCE: List[str] = CLASSES + [SILENCE]
NUM_CLASSES = len(CLASSES)          # 18
SILENCE_INDEX = NUM_CLASSES         # 18 (AT one-hot)
NUM_SLOTS = N_SLOTS
CLASS_TO_INDEX = {c: i for i, c in enumerate(CLASSES)}


def check_label(label: str, where: str = "") -> str:
    """Return ``label`` if it is one of the 18 classes or 'silence', else raise ValueError."""
    if label != SILENCE and label not in CLASS_TO_INDEX:
        loc = f" in {where}" if where else ""
        raise ValueError(
            f"unknown label {label!r}{loc}; expected one of the 18 DCASE2026 Task 4 classes "
            f"({', '.join(CLASSES)}) or 'silence'"
        )
    return label


def pad_labels(labels: Sequence[str], n_slots: int = NUM_SLOTS) -> List[str]:
    """Pad a label list with 'silence' up to ``n_slots`` (error if longer)."""
    labels = list(labels)
    if len(labels) > n_slots:
        raise ValueError(f"{len(labels)} labels given but only {n_slots} slots: {labels}")
    return labels + [SILENCE] * (n_slots - len(labels))


def labels_to_stack(labels: Sequence[str], n_slots: int = NUM_SLOTS) -> torch.Tensor:
    """AT target: labels -> one-hot [n_slots, 19] with silence as index 18."""
    out = torch.zeros(n_slots, NUM_CLASSES + 1)
    for i, lab in enumerate(pad_labels(labels, n_slots)):
        check_label(lab)
        out[i, SILENCE_INDEX if lab == SILENCE else CLASS_TO_INDEX[lab]] = 1.0
    return out


def labels_to_query(labels: Sequence[str], n_slots: int = NUM_SLOTS) -> torch.Tensor:
    """SS query: labels -> concatenated one-hots [n_slots * 18], silence = zeros."""
    out = torch.zeros(n_slots, NUM_CLASSES)
    for i, lab in enumerate(pad_labels(labels, n_slots)):
        check_label(lab)
        if lab != SILENCE:
            out[i, CLASS_TO_INDEX[lab]] = 1.0
    return out.reshape(-1)


def query_to_labels(query: torch.Tensor) -> List[str]:
    """Inverse of :func:`labels_to_query` for one item: [n_slots * 18] -> labels."""
    rows = query.reshape(-1, NUM_CLASSES)
    return [CLASSES[int(r.argmax())] if bool(r.abs().sum() > 0) else SILENCE for r in rows]


def index_to_label(index: int) -> str:
    """AT class index (0..18) -> label name."""
    return LABELS_WITH_SILENCE[index]


def silence_last(labels: Sequence[str]) -> List[int]:
    """Stable order of slot indices that moves 'silence' slots to the end (official S5)."""
    return sorted(range(len(labels)), key=lambda i: labels[i] == SILENCE)


def slots_from_logits(logits: torch.Tensor) -> Dict[str, object]:
    """Softmax + argmax per slot, no threshold (official ``predict``).

    logits [B, S, 19] -> ``labels`` (list[B][S] of class names, 'silence' for index 18),
    ``label_vector`` one-hot [B, S, 19] float, ``probabilities`` max softmax value [B, S],
    ``logits`` (the input).
    """
    probs = torch.softmax(logits, dim=-1)
    values, indices = probs.max(dim=-1)
    if logits.shape[-1] != len(LABELS_WITH_SILENCE):
        raise ValueError(f"label names need {len(LABELS_WITH_SILENCE)} classes, got {logits.shape[-1]}")
    labels = [[LABELS_WITH_SILENCE[i] for i in row] for row in indices.tolist()]
    return {"labels": labels,
            "label_vector": torch.nn.functional.one_hot(indices, logits.shape[-1]).to(torch.float32),
            "probabilities": values, "logits": logits}
