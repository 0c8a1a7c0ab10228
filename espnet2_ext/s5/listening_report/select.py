"""Which soundscapes the listening report shows, and what each of its rows says.

Selection (:func:`select_soundscapes`) works on the ``details`` list of ``results.json``
(one dict per soundscape with ``soundscape``, ``ref_labels`` and the per-mixture
``CAPI-SDRi`` in ``metrics``): the ``n`` best, ``n`` median and ``n`` worst mixtures
with at least one target, ranked by CAPI-SDRi, then every mixture without a target,
then any names asked for explicitly.

Per-pair figures (:func:`pair_rows`) reuse the metric code: the matched (reference,
estimate) slots are those CAPI-SDRi chose (:func:`capi_sdri_details`), the SDR of a
pair is :func:`pairwise_snr` ("SDR" = the official plain SNR) and its improvement
subtracts the mixture's SDR against the same reference.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence

import torch

from espnet2_ext.s5.estimates import MixtureRecord
from espnet2_ext.s5.labels import SILENCE
from espnet2_ext.s5.metrics import capi_sdri_details, pairwise_snr, snr

BEST, MEDIAN, WORST, NO_TARGET, ASKED = "best", "median", "worst", "no target", "asked for"


def _capi_of(detail: Mapping) -> Optional[float]:
    for metric in detail.get("metrics", []):
        if metric.get("metric") == "CAPI-SDRi":
            return metric.get("value")
    return None


def has_target(detail: Mapping) -> bool:
    """Whether the soundscape has at least one reference event."""
    return any(label != SILENCE for label in detail["ref_labels"])


def select_soundscapes(
    details: Sequence[Mapping], n: int = 10, extra: Sequence[str] = ()
) -> Dict[str, List[str]]:
    """soundscape -> why it is shown (``best``/``median``/``worst``/``no target``/``asked for``).

    Ordered best to worst, then the mixtures without a target, then ``extra``; each
    soundscape appears once with all its reasons. Ties in CAPI-SDRi keep name order.
    (Options are checked by :func:`espnet2_ext.s5.listening_report.check_options`.)
    """
    ranked = sorted((d for d in details if has_target(d) and _capi_of(d) is not None),
                    key=lambda d: (-_capi_of(d), d["soundscape"]))
    names = [d["soundscape"] for d in ranked]
    start = max((len(names) - n) // 2, 0)
    groups = [(BEST, names[:n]), (MEDIAN, names[start:start + n]),
              (WORST, names[max(len(names) - n, 0):] if n else []),
              (NO_TARGET, sorted(d["soundscape"] for d in details if not has_target(d))),
              (ASKED, list(extra))]
    order = {name: i for i, name in enumerate(names)}
    chosen: Dict[str, List[str]] = {}
    for reason, members in groups:
        for name in members:
            chosen.setdefault(name, []).append(reason)
    ranked_part = sorted((s for s in chosen if s in order), key=order.__getitem__)
    return {s: chosen[s] for s in ranked_part + [s for s in chosen if s not in order]}


@dataclass
class Pair:
    """One line of a soundscape's row: a matched pair, a miss or a false alarm.

    ref / est: slot indices into the record's ref / est lists (``None`` when absent);
    sdr: SDR(estimate, reference) in dB and sdri: sdr − SDR(mixture, reference), for matches.
    """

    ref: Optional[int]
    est: Optional[int]
    sdr: Optional[float] = None
    sdri: Optional[float] = None

    @property
    def status(self) -> str:
        if self.ref is None:
            return "false alarm"
        return "miss" if self.est is None else "match"


def pair_rows(record: MixtureRecord) -> List[Pair]:
    """Matches (by reference slot), then misses, then false alarms of one soundscape.

    Silent slots are left out. Matches are the CAPI-SDRi assignment (same label only),
    so an estimate with a wrong label is a false alarm and its reference a miss.
    """
    est = torch.from_numpy(record.est_wavs)
    ref = torch.from_numpy(record.ref_wavs)
    capi = capi_sdri_details(record.est_labels, est, record.ref_labels, ref,
                             torch.from_numpy(record.mixture))
    sdr = pairwise_snr(est, ref)                                    # [n_ref, n_est]
    mix_sdr = snr(torch.from_numpy(record.mixture).unsqueeze(0), ref)   # [n_ref]
    pairs = [Pair(r, e, float(sdr[r, e]), float(sdr[r, e] - mix_sdr[r])) for r, e in capi.pairs]
    matched_ref = {r for r, _ in capi.pairs}
    matched_est = {e for _, e in capi.pairs}
    pairs += [Pair(r, None) for r, lab in enumerate(record.ref_labels)
              if lab != SILENCE and r not in matched_ref]
    pairs += [Pair(None, e) for e, lab in enumerate(record.est_labels)
              if lab != SILENCE and e not in matched_est]
    return pairs


def capi_by_soundscape(details: Sequence[Mapping]) -> Dict[str, Optional[float]]:
    """soundscape -> per-mixture CAPI-SDRi (``None``: neither side has an event)."""
    return {d["soundscape"]: _capi_of(d) for d in details}
