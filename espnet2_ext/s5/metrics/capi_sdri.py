"""CAPI-SDRi: class-aware permutation-invariant SDR improvement (DCASE2026 Task 4 metric).

Same values as the official ``S5ClassAwareMetric('sdr')`` (spec §3.1), per mixture:

1. L = labels present on either side, without 'silence'. Empty -> ``None``
   (the mixture is left out of the dataset mean).
2. For each class c in L with n_e estimates and n_r references:
   * n_e = 0 or n_r = 0: max(n_e, n_r) zeros (misses and false alarms score 0 dB);
   * else TP = min(n_e, n_r); among all TP-combinations of references x
     TP-permutations of estimates take the assignment with the highest **mean SDR**
     (first one on ties), keep its TP improvements SDR(est, ref) − SDR(mix, ref)
     and add |n_e − n_r| zeros.
3. Mixture score = mean of all kept values (float32, as the official code).

The official code stacks the waveforms of every candidate assignment; here the
SDR of each (reference, estimate) pair of a class is computed once (a small
matrix) and the assignments are searched on that matrix, which gives the same
numbers at a fraction of the cost. "SDR" is the plain SNR of
:mod:`espnet2_ext.s5.metrics.snr`.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from espnet2_ext.s5.labels import SILENCE
from espnet2_ext.s5.metrics.snr import pairwise_snr, snr

ArrayLike = Union[torch.Tensor, np.ndarray]


@dataclass
class CapiSample:
    """CAPI-SDRi of one mixture with its parts.

    value:     the mixture's CAPI-SDRi in dB, ``None`` when neither side has an event
    per_class: class -> the values that class contributed (improvements, 0 for misses/false alarms)
    pairs:     matched (reference slot, estimate slot) indices into the input lists
    """

    value: Optional[float]
    per_class: Dict[str, List[float]] = field(default_factory=dict)
    pairs: List[Tuple[int, int]] = field(default_factory=list)


@functools.lru_cache(maxsize=None)
def _assignments(n_ref: int, n_est: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Candidate assignments in official order: ref and est index tables [A, TP]."""
    tp = min(n_ref, n_est)
    cands = [(r, e) for r in itertools.combinations(range(n_ref), tp)
             for e in itertools.permutations(range(n_est), tp)]
    return (torch.tensor([r for r, _ in cands], dtype=torch.long),
            torch.tensor([e for _, e in cands], dtype=torch.long))


def best_assignment(score: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Assignment with the highest mean score: score [n_ref, n_est] -> ref idx [TP], est idx [TP].

    Candidates are all min(n_ref, n_est)-combinations of references x permutations of
    estimates, in ``itertools`` order; the first best one wins (official tie rule).
    """
    ref_idx, est_idx = _assignments(*score.shape)
    best = score[ref_idx, est_idx].mean(dim=-1).argmax()
    return ref_idx[best], est_idx[best]


def _slots_of(labels: Sequence[str], label: str) -> List[int]:
    return [i for i, lab in enumerate(labels) if lab == label]


def capi_sdri_details(
    est_labels: Sequence[str],
    est_wavs: ArrayLike,
    ref_labels: Sequence[str],
    ref_wavs: ArrayLike,
    mixture: ArrayLike,
) -> CapiSample:
    """CAPI-SDRi of one mixture with per-class values and the chosen pairs.

    est_wavs [n_est, T] and ref_wavs [n_ref, T] are aligned with their label lists
    (silent slots are ignored, whatever their waveform); mixture [T] is channel 0.
    """
    est_wavs, ref_wavs = torch.as_tensor(est_wavs), torch.as_tensor(ref_wavs)
    mixture = torch.as_tensor(mixture)
    classes = sorted((set(est_labels) | set(ref_labels)) - {SILENCE})
    if not classes:
        return CapiSample(None)

    values, per_class, pairs = [], {}, []
    for label in classes:
        est_slots, ref_slots = _slots_of(est_labels, label), _slots_of(ref_labels, label)
        n_extra = abs(len(est_slots) - len(ref_slots))
        if est_slots and ref_slots:
            refs = ref_wavs[ref_slots]
            sdr = pairwise_snr(est_wavs[est_slots], refs)             # [n_ref, n_est]
            ref_idx, est_idx = best_assignment(sdr)
            improvement = sdr[ref_idx, est_idx] - snr(mixture.unsqueeze(0), refs)[ref_idx]
            pairs += [(ref_slots[r], est_slots[e]) for r, e in zip(ref_idx.tolist(), est_idx.tolist())]
        else:
            improvement = ref_wavs.new_zeros(0)
        class_values = torch.cat([improvement, ref_wavs.new_zeros(n_extra)])
        values.append(class_values)
        per_class[label] = class_values.tolist()
    return CapiSample(torch.cat(values).mean().item(), per_class, sorted(pairs))


def capi_sdri(
    est_labels: Sequence[str],
    est_wavs: ArrayLike,
    ref_labels: Sequence[str],
    ref_wavs: ArrayLike,
    mixture: ArrayLike,
) -> Optional[float]:
    """CAPI-SDRi (dB) of one mixture; ``None`` when neither side has an event."""
    return capi_sdri_details(est_labels, est_wavs, ref_labels, ref_wavs, mixture).value


def capi_sdri_batch(
    est_labels: Sequence[Sequence[str]],
    est_wavs: ArrayLike,
    ref_labels: Sequence[Sequence[str]],
    ref_wavs: ArrayLike,
    mixtures: ArrayLike,
) -> List[Optional[float]]:
    """Per-mixture CAPI-SDRi of a batch: wavs [B, S, T], mixtures [B, T]."""
    return [capi_sdri(*item) for item in zip(est_labels, est_wavs, ref_labels, ref_wavs, mixtures)]


def mean_ignoring_none(values: Iterable[Optional[float]]) -> Optional[float]:
    """Dataset score: the mean over mixtures whose value is not ``None`` (``None`` if none)."""
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None
