"""Calibrated slot decisions (beyond the baseline, item 1).

The baseline decides each of the 3 tagger slots by softmax + argmax over 19 classes
(18 + silence). A calibrated decision instead looks, per slot, at the best *non-silence*
class ``c`` and its softmax probability ``p``:

* the slot is active (labelled ``c``) when ``p >= thresholds[c]`` (a per-class threshold),
  else it is silence;
* a mixture whose largest ``p`` over its slots is below ``min_probability`` is declared
  empty (every slot silence): the rule for zero-target mixtures.

With the candidate classes fixed, any decision of a mixture is one of 2^3 = 8 *slot masks*
(which slots are active; the baseline's argmax is the mask ``p >= p(silence)``). The fit
therefore works on a per-mixture **score table** [N, 8], the value the mixture gets under
each mask (``nan`` = left out of the mean, as a CAPI-SDRi of ``None``), and maximises

    J(thresholds, m) = nanmean_n table[n, mask_n(thresholds, m)]

by coordinate ascent over the 18 thresholds for each candidate ``min_probability``
(candidates are midpoints between observed probabilities, so the fit is exact on the data it
sees). Two objectives: the official mixture label accuracy (:func:`accuracy_table`, from the
reference labels alone) and CAPI-SDRi (:func:`capi_sdri_table`, the separator run under each
mask). The result is a JSON file stored beside the tagger and applied by
``s5_inference --calibration``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.labels import CLASSES, LABELS_WITH_SILENCE, SILENCE_INDEX, silence_last
from espnet2_ext.s5.metrics.capi_sdri import capi_sdri
from espnet2_ext.s5.official import N_SLOTS

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


def slot_activity(cls: torch.Tensor, prob: torch.Tensor, thresholds: torch.Tensor,
                  min_probability: float) -> torch.Tensor:
    """Active slots [..., B, S] (bool) from :func:`slot_candidates` cls, prob [B, S] and
    thresholds [..., 18] (a leading dim scores several threshold vectors at once)."""
    active = prob >= thresholds.to(prob)[..., cls]
    return active & (prob.max(dim=-1).values >= min_probability)[..., None]


def decide(cls: torch.Tensor, prob: torch.Tensor, thresholds: torch.Tensor,
           min_probability: float) -> torch.Tensor:
    """Calibrated slot classes [B, S] (18 = silence) from :func:`slot_candidates`; thresholds [18]."""
    return masked_classes(cls, slot_activity(cls, prob, thresholds, min_probability))


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


def all_masks(n_slots: int = N_SLOTS) -> torch.Tensor:
    """Every slot mask as booleans [2^S, S]: row m has slot s active iff bit s of m is set."""
    return (torch.arange(2 ** n_slots)[:, None] >> torch.arange(n_slots)) & 1 == 1


def mask_index(active: torch.Tensor) -> torch.Tensor:
    """Active slots [..., S] bool -> mask index [...] (the row of :func:`all_masks`)."""
    return (active.long() << torch.arange(active.shape[-1])).sum(dim=-1)


def masked_classes(cls: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """Candidate classes with inactive slots set to silence (broadcasting)."""
    return torch.where(active, cls, torch.full_like(cls, SILENCE_INDEX))


def accuracy_table(cls: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Mixture accuracy (0 or 100) of every slot mask: cls, ref [N, S] -> [N, 2^S]."""
    est = masked_classes(cls[:, None], all_masks(cls.shape[1])[None])        # [N, 2^S, S]
    return mixture_correct(est, ref[:, None].expand_as(est)).float() * 100


def capi_sdri_table(separate: Callable[[torch.Tensor, List[List[str]]], torch.Tensor], mixture: torch.Tensor,
                    cls: torch.Tensor, ref_labels: Sequence[str], ref_wavs: torch.Tensor) -> torch.Tensor:
    """CAPI-SDRi (dB, nan for ``None``) of one mixture under every slot mask -> [2^S].

    Args:
        separate: ``separate(mixture [M, 4, T], labels [M][S]) -> [M, S, 1, T]``
            (:meth:`S5Pipeline.separate`); called once with the non-empty masks as a batch,
            each mask's labels in decoding order (silence last), as decoding queries it.
        mixture: [4, T]; cls: candidate classes [S]; ref_labels [S] and ref_wavs [S, 1, T]:
            the oracle targets (silence slots ignored).
    """
    masks = all_masks(len(cls))
    names = [[LABELS_WITH_SILENCE[i] for i in row] for row in masked_classes(cls[None], masks).tolist()]
    orders = [silence_last(row) for row in names]
    queried = [[row[i] for i in order] for row, order in zip(names, orders)]
    wavs = separate(mixture[None].expand(len(masks) - 1, -1, -1), queried[1:]).float().cpu()
    refs, channel0 = ref_wavs[:, 0].float(), mixture[0].float().cpu()
    out = torch.full((len(masks),), float("nan"))
    for m, labels in enumerate(queried):
        est = wavs[m - 1, :, 0] if m else torch.zeros_like(refs)
        value = capi_sdri(labels, est, list(ref_labels), refs, channel0)
        if value is not None:
            out[m] = value
    return out


def table_score(table: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Objective of decisions masks [..., N] on table [N, 2^S]: nanmean over mixtures [...]."""
    values = table.expand(*masks.shape[:-1], *table.shape).gather(-1, masks[..., None])[..., 0]
    return values.nanmean(dim=-1)


def decision_masks(cls: torch.Tensor, prob: torch.Tensor, thresholds: torch.Tensor,
                   min_probability: float) -> torch.Tensor:
    """Calibrated decisions as mask indices [..., N] (cls, prob [N, S]; thresholds [..., 18])."""
    return mask_index(slot_activity(cls, prob, thresholds, min_probability))


def _midpoints(values: torch.Tensor, cap: int) -> torch.Tensor:
    """0, the midpoints between sorted unique values, and a value above them all (<= cap + 2 entries)."""
    u = torch.unique(values)
    if u.numel() > cap:
        u = torch.quantile(u, torch.linspace(0, 1, cap, dtype=u.dtype))
    mids = (u[1:] + u[:-1]) / 2 if u.numel() > 1 else u[:0]
    return torch.cat([u.new_zeros(1), mids, u.new_ones(1) * (float(u.max()) + 1e-6 if u.numel() else 1.0)])


def _finite(score: torch.Tensor) -> torch.Tensor:
    """An objective of nan (every mixture left out) ranks below any real value."""
    return torch.nan_to_num(score, nan=-float("inf"))


def _ascend(cls: torch.Tensor, prob: torch.Tensor, table: torch.Tensor, min_probability: float,
            init: float, rounds: int) -> Tuple[torch.Tensor, float]:
    """Coordinate ascent of the 18 thresholds at a fixed min_probability -> (thresholds, objective)."""
    thresholds = torch.full((len(CLASSES),), init, dtype=prob.dtype)
    best = float(_finite(table_score(table, decision_masks(cls, prob, thresholds, min_probability))))
    for _ in range(rounds):
        improved = False
        for c in range(len(CLASSES)):
            mine = prob[cls == c]
            if mine.numel() == 0:
                continue   # the class never wins a slot: its threshold does not matter
            cand = _midpoints(mine, MAX_CANDIDATES)
            th = thresholds.expand(len(cand), -1).clone()
            th[:, c] = cand
            score = _finite(table_score(table, decision_masks(cls, prob, th, min_probability)))   # [K]
            top = float(score.max())
            # among the best candidates, the one nearest the current threshold (stable, no drift)
            ties = torch.nonzero(score == score.max())[:, 0]
            pick = ties[torch.argmin((cand[ties] - thresholds[c]).abs())]
            if top > best + 1e-9:
                improved = True
            best = max(best, top)
            thresholds[c] = cand[pick]
        if not improved:
            break
    return thresholds, best


def argmax_masks(logits: torch.Tensor) -> torch.Tensor:
    """The baseline's argmax decisions as mask indices [N]: a slot is active iff its best
    non-silence class is at least as likely as silence (argmax takes the lower index on ties)."""
    _, prob = slot_candidates(logits)
    return mask_index(prob >= torch.softmax(logits.float(), dim=-1)[..., SILENCE_INDEX])


OBJECTIVES = ("accuracy", "capi_sdri")
TABLE_KEYS = {"accuracy": "valid_accuracy_mix", "capi_sdri": "valid_capi_sdri"}


def fit_calibration(logits: torch.Tensor, tables: Dict[str, torch.Tensor], objective: str = "accuracy",
                    init: float = 0.5, rounds: int = 4, info: Optional[Dict[str, object]] = None) -> Calibration:
    """Fit thresholds and min_probability on logits [N, S, 19] maximising ``tables[objective]`` [N, 2^S].

    Ties go to the smaller ``min_probability``. ``info`` of the result records the objective
    and, for every table given, its validation value under the baseline argmax and the fit
    (``valid_accuracy_mix``, ``valid_capi_sdri``).
    """
    if objective not in OBJECTIVES or objective not in tables:
        raise S5InputError(f"calibration objective must be one of {OBJECTIVES} with its table, got {objective!r}")
    for name, table in tables.items():
        if table.shape != (logits.shape[0], 2 ** logits.shape[1]):
            raise S5InputError(f"{name} table {tuple(table.shape)} does not match logits {tuple(logits.shape)}")
    if logits.shape[0] == 0:
        raise S5InputError("no validation mixtures to fit the calibration on")
    cls, prob = slot_candidates(logits)
    table = tables[objective]
    best: Tuple[float, float, torch.Tensor] = (-float("inf"), 0.0, torch.empty(0))
    for m in _midpoints(prob.max(dim=1).values, MAX_EMPTY_CANDIDATES).tolist():
        th, score = _ascend(cls, prob, table, m, init, rounds)
        if score > best[0] + 1e-9:
            best = (score, m, th)
    _, m, th = best
    fitted, argmax = decision_masks(cls, prob, th, m), argmax_masks(logits)
    summary = {TABLE_KEYS[name]: {"argmax": float(table_score(t, argmax)), "calibrated": float(table_score(t, fitted))}
               for name, t in tables.items()}
    return Calibration(th.tolist(), m, {**(info or {}), "objective": objective,
                                        "n_mixtures": int(logits.shape[0]), **summary})


def labels_to_indices(labels: Sequence[Sequence[str]]) -> torch.Tensor:
    """[[name, ...], ...] (class names or 'silence') -> class indices [N, S]."""
    index = {name: i for i, name in enumerate(LABELS_WITH_SILENCE)}
    try:
        return torch.tensor([[index[n] for n in row] for row in labels], dtype=torch.long)
    except KeyError as e:
        raise S5InputError(f"unknown label {e.args[0]!r} in the reference labels") from e
