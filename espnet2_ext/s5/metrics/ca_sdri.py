"""CA-SDRi, the DCASE2025 Task 4 metric (``src/utils.ca_metric``), kept for comparison.

2025 scenes had no same-class duplicates, so the metric assumes **one source per
class** and matches estimates to references directly by label, per mixture:

    TP = set(est) ∩ set(ref), FP = set(est) − TP, FN = set(ref) − TP   ('silence' removed)
    CA-SDRi = mean( [SDR(est_c, ref_c) − SDR(mix, ref_c) for c in TP] + [0] * (|FP| + |FN|) )

Interpretation for 2026 data (documented choices, not in the 2025 code):

* Duplicated labels: like the official ``{label: wav for ...}`` dict, the **last**
  slot carrying a label represents that class on each side; the other same-class
  slots are ignored (they count neither as FP nor as FN).
* A mixture with no event on either side gives ``None`` and is left out of the mean
  (the 2025 code would return NaN; 2025 scenes always had 1–3 events).
* SDR is the plain SNR of :mod:`espnet2_ext.s5.metrics.snr` (float32, as in 2025).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from espnet2_ext.s5.labels import SILENCE
from espnet2_ext.s5.metrics.capi_sdri import ArrayLike
from espnet2_ext.s5.metrics.snr import snr


def ca_sdri(
    est_labels: Sequence[str],
    est_wavs: ArrayLike,
    ref_labels: Sequence[str],
    ref_wavs: ArrayLike,
    mixture: ArrayLike,
) -> Optional[float]:
    """2025 CA-SDRi (dB) of one mixture; ``None`` when neither side has an event.

    est_wavs [n_est, T], ref_wavs [n_ref, T] aligned with the label lists; mixture [T].
    """
    est_wavs, ref_wavs = torch.as_tensor(est_wavs), torch.as_tensor(ref_wavs)
    mixture = torch.as_tensor(mixture)
    est_slot = {lab: i for i, lab in enumerate(est_labels) if lab != SILENCE}   # last slot wins
    ref_slot = {lab: i for i, lab in enumerate(ref_labels) if lab != SILENCE}
    tp = sorted(est_slot.keys() & ref_slot.keys())
    n_wrong = len(est_slot.keys() ^ ref_slot.keys())
    if not tp and not n_wrong:
        return None
    refs = ref_wavs[[ref_slot[c] for c in tp]]
    improvement = snr(est_wavs[[est_slot[c] for c in tp]], refs) - snr(mixture.unsqueeze(0), refs)
    return torch.cat([improvement, improvement.new_zeros(n_wrong)]).mean().item()
