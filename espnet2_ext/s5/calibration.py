"""Calibrated slot decisions (beyond the baseline, item 1).

The baseline decides each of the 3 tagger slots by softmax + argmax over 19 classes
(18 + silence). A calibrated decision instead looks, per slot, at the best *non-silence*
class ``c`` and its softmax probability ``p``:

* the slot is active (labelled ``c``) when ``p >= thresholds[c]`` (a per-class threshold),
  else it is silence;
* a mixture whose largest ``p`` over its slots is below ``min_probability`` is declared
  empty (every slot silence): the rule for zero-target mixtures.

:func:`fit_calibration` chooses the 18 thresholds and ``min_probability`` on validation
logits by maximising the official mixture label accuracy (coordinate ascent over the
thresholds for each candidate ``min_probability``; candidate values are midpoints
between observed probabilities, so the fit is exact on the data it sees). The result is a
JSON file stored beside the tagger and applied by ``s5_inference --calibration``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.labels import CLASSES, LABELS_WITH_SILENCE, SILENCE_INDEX

CALIBRATION_VERSION = 1
MAX_CANDIDATES = 100        # threshold candidates per class (quantiles beyond that)
MAX_EMPTY_CANDIDATES = 20  # min_probability candidates


@dataclass
class Calibration:
    """Per-class slot thresholds [18] and the empty-mixture minimum probability."""

    thresholds: List[float]
    min_probability: float = 0.0
    info: Dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.thresholds) != len(CLASSES):
            raise S5InputError(f"calibration needs {len(CLASSES)} class thresholds, got {len(self.thresholds)}")

    def to_json(self) -> dict:
        return {"version": CALIBRATION_VERSION,
                "rule": "slot active iff p(best non-silence class c) >= thresholds[c]; "
                        "mixture empty iff max slot p < min_probability",
                "thresholds": dict(zip(CLASSES, (float(t) for t in self.thresholds))),
                "min_probability": float(self.min_probability), **self.info}

    @classmethod
    def from_file(cls, path: Path) -> "Calibration":
        """Read a file written by ``s5_calibrate`` (checked: version, every class present)."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise S5InputError(f"calibration file {path}: cannot read it ({e}); rerun s5_calibrate") from e
        if not isinstance(data, dict) or data.get("version") != CALIBRATION_VERSION:
            raise S5InputError(f"calibration file {path}: not a version-{CALIBRATION_VERSION} s5_calibrate file")
        th = data.get("thresholds", {})
        missing = [c for c in CLASSES if c not in th]
        if missing:
            raise S5InputError(f"calibration file {path}: no threshold for {missing}")
        info = {k: v for k, v in data.items() if k not in ("version", "rule", "thresholds", "min_probability")}
        return cls([float(th[c]) for c in CLASSES], float(data.get("min_probability", 0.0)), info)


def slot_candidates(logits: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """logits [B, S, 19] -> (best non-silence class [B, S] long, its softmax probability [B, S])."""
    if logits.dim() != 3 or logits.shape[-1] != len(LABELS_WITH_SILENCE):
        raise S5InputError(f"tagger logits must be [B, S, {len(LABELS_WITH_SILENCE)}], got {tuple(logits.shape)}")
    prob, cls = torch.softmax(logits.float(), dim=-1)[..., :SILENCE_INDEX].max(dim=-1)
    return cls, prob


def decide(cls: torch.Tensor, prob: torch.Tensor, thresholds: torch.Tensor,
           min_probability: float) -> torch.Tensor:
    """Calibrated slot classes [B, S] (18 = silence) from :func:`slot_candidates`; thresholds [18]."""
    active = prob >= thresholds.to(prob)[cls]
    active &= (prob.max(dim=1).values >= min_probability)[:, None]
    return torch.where(active, cls, torch.full_like(cls, SILENCE_INDEX))


def calibrated_slots(logits: torch.Tensor, calibration: Calibration) -> Tuple[List[List[str]], torch.Tensor]:
    """logits [B, S, 19] -> (labels [B][S] in slot order, probabilities [B, S] of the decided class)."""
    cls, prob = slot_candidates(logits)
    est = decide(cls, prob, torch.tensor(calibration.thresholds), calibration.min_probability)
    probs = torch.softmax(logits.float(), dim=-1).gather(-1, est[..., None])[..., 0]
    return [[LABELS_WITH_SILENCE[i] for i in row] for row in est.tolist()], probs


def mixture_correct(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-mixture label-multiset equality [..., N] of class indices est, ref [..., N, S].

    Equal to the official per-mixture accuracy (silence removed, multisets compared):
    with a fixed slot count, equal sorted rows <=> equal non-silence multisets.
    """
    return (est.sort(dim=-1).values == ref.sort(dim=-1).values).all(dim=-1)


def mixture_accuracy(est: torch.Tensor, ref: torch.Tensor) -> float:
    """Official mixture label accuracy (%) of class indices est, ref [N, S] (18 = silence)."""
    return float(mixture_correct(est, ref).float().mean()) * 100


def _midpoints(values: torch.Tensor, cap: int) -> torch.Tensor:
    """0, the midpoints between sorted unique values, and a value above them all (<= cap + 2 entries)."""
    u = torch.unique(values)
    if u.numel() > cap:
        u = torch.quantile(u, torch.linspace(0, 1, cap, dtype=u.dtype))
    mids = (u[1:] + u[:-1]) / 2 if u.numel() > 1 else u[:0]
    return torch.cat([u.new_zeros(1), mids, u.new_ones(1) * (float(u.max()) + 1e-6 if u.numel() else 1.0)])


def _accuracies(cls: torch.Tensor, prob: torch.Tensor, ref: torch.Tensor, thresholds: torch.Tensor,
                min_probability: float, c: int, candidates: torch.Tensor) -> torch.Tensor:
    """Mixture accuracy [K] for each candidate threshold of class c, the others fixed.

    Only the mixtures with a slot of class c depend on it; the others are counted once.
    """
    rows = (cls == c).any(dim=1)
    others = int(mixture_correct(decide(cls[~rows], prob[~rows], thresholds, min_probability), ref[~rows]).sum())
    cls, prob, ref = cls[rows], prob[rows], ref[rows]
    th = thresholds.expand(len(candidates), -1).clone()
    th[:, c] = candidates
    active = prob[None] >= th[:, cls]   # [K, n, S]
    active &= (prob.max(dim=1).values >= min_probability)[None, :, None]
    est = torch.where(active, cls[None], torch.full_like(cls[None], SILENCE_INDEX))
    correct = mixture_correct(est, ref[None].expand_as(est)).sum(dim=1)
    return (correct + others).float() / len(rows) * 100


def _ascend(cls: torch.Tensor, prob: torch.Tensor, ref: torch.Tensor, min_probability: float,
            init: float, rounds: int) -> Tuple[torch.Tensor, float]:
    """Coordinate ascent of the 18 thresholds at a fixed min_probability -> (thresholds, accuracy)."""
    thresholds = torch.full((len(CLASSES),), init, dtype=prob.dtype)
    best = mixture_accuracy(decide(cls, prob, thresholds, min_probability), ref)
    for _ in range(rounds):
        improved = False
        for c in range(len(CLASSES)):
            mine = prob[cls == c]
            if mine.numel() == 0:
                continue   # the class never wins a slot: its threshold does not matter
            cand = _midpoints(mine, MAX_CANDIDATES)
            acc = _accuracies(cls, prob, ref, thresholds, min_probability, c, cand)
            top = acc.max()
            # among the best candidates, the one nearest the current threshold (stable, no drift)
            ties = torch.nonzero(acc == top)[:, 0]
            pick = ties[torch.argmin((cand[ties] - thresholds[c]).abs())]
            if float(top) > best + 1e-9:
                improved = True
            best = max(best, float(top))
            thresholds[c] = cand[pick]
        if not improved:
            break
    return thresholds, best


def fit_calibration(logits: torch.Tensor, ref: torch.Tensor, init: float = 0.5, rounds: int = 4,
                    info: Optional[Dict[str, object]] = None) -> Calibration:
    """Fit thresholds and min_probability on logits [N, S, 19] against reference classes ref [N, S].

    Maximises the mixture label accuracy; ties go to the smaller ``min_probability``. The
    returned ``info`` records the validation accuracy of the baseline argmax and of the fit.
    """
    if ref.shape != logits.shape[:2]:
        raise S5InputError(f"reference labels {tuple(ref.shape)} do not match logits {tuple(logits.shape)}")
    if ref.shape[0] == 0:
        raise S5InputError("no validation mixtures to fit the calibration on")
    cls, prob = slot_candidates(logits)
    best: Tuple[float, float, torch.Tensor] = (-1.0, 0.0, torch.empty(0))
    for m in _midpoints(prob.max(dim=1).values, MAX_EMPTY_CANDIDATES).tolist():
        th, acc = _ascend(cls, prob, ref, m, init, rounds)
        if acc > best[0] + 1e-9:
            best = (acc, m, th)
    acc, m, th = best
    argmax = mixture_accuracy(logits.argmax(dim=-1), ref)
    return Calibration(th.tolist(), m, {**(info or {}), "n_mixtures": int(ref.shape[0]),
                                        "valid_accuracy_mix": {"argmax": argmax, "calibrated": acc}})


def labels_to_indices(labels: Sequence[Sequence[str]]) -> torch.Tensor:
    """[[name, ...], ...] (class names or 'silence') -> class indices [N, S]."""
    index = {name: i for i, name in enumerate(LABELS_WITH_SILENCE)}
    try:
        return torch.tensor([[index[n] for n in row] for row in labels], dtype=torch.long)
    except KeyError as e:
        raise S5InputError(f"unknown label {e.args[0]!r} in the reference labels") from e
