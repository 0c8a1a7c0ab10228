"""The S5 chain: tagger -> silence last -> label-queried separator.

Mirrors the official ``S5.predict_label_separate``: per slot, softmax + argmax
(no threshold), slots stably re-ordered so that 'silence' comes last, the
labels turned into the 54-dim query (silence = zeros), then one separator call
on the 4-channel mixture. Oracle-label separation skips the tagger.

A separator that ``needs_activity`` (Time-FiLM) also gets each slot's activity track: the
SED tagger's frame probability of the slot's class (:func:`espnet2_ext.s5.activity.slot_tracks`),
or, with oracle labels, the tracks given by the caller (e.g. measured on the oracle targets).

``precision``: ``"fp32"`` (default; the official arithmetic, the parity tests' path) or ``"bf16"``,
an opt-in mode: the tagger and the U-Net under bfloat16 autocast on the models' device, while
the features, the STFT, the masking, the ISTFT and the slot decisions stay float32 (the models'
autocast islands; logits are cast up before the softmax). Its outputs differ from fp32 by bf16
rounding (tolerance: docs/python_api.md); it pays on GPUs and on CPUs with AMX / avx512_bf16,
and is slower on CPUs without them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.activity import slot_tracks
from espnet2_ext.s5.calibration import Calibration, calibrated_slots
from espnet2_ext.s5.devices import at_least_float32, check_precision, precision_context
from espnet2_ext.s5.labels import SILENCE, labels_to_query, silence_last, slots_from_logits


@dataclass
class S5Output:
    """One batch of S5 results: labels [B][3], probabilities [B, 3], waveform [B, 3, 1, T]."""

    labels: List[List[str]]
    probabilities: torch.Tensor
    waveform: torch.Tensor


def slot_predictions(logits: torch.Tensor, calibration: Optional[Calibration] = None):
    """logits [B, 3, 19] -> (labels [B][3] with silence last, probabilities [B, 3]).

    Default: the official predict (softmax + argmax, no threshold); with ``calibration``
    the calibrated slot decisions of :mod:`espnet2_ext.s5.calibration`.
    """
    if calibration is None:
        slots = slots_from_logits(logits)
        all_names, all_probs = slots["labels"], slots["probabilities"]
    else:
        all_names, all_probs = calibrated_slots(logits, calibration)
    labels, probs = [], []
    for names, p in zip(all_names, all_probs):
        order = silence_last(names)
        labels.append([names[i] for i in order])
        probs.append(p[order])
    return labels, torch.stack(probs)


#: the error when a Time-FiLM separator is paired with a tagger without frame outputs
ACTIVITY_MISMATCH = ("{separator} is a Time-FiLM separator (resunetk_tfilm), which needs each slot's "
                     "activity over time, but {tagger} has no frame-level output; decode it with an SED "
                     "tagger (m2d_sed_4c, e.g. exp/tag_blocks_sed_4c/valid.loss.best.pth: run.sh --tag_tag sed_4c "
                     "--tag_head_config conf/tuning/tag_head_sed_4c.yaml --tag_blocks_config "
                     "conf/tuning/tag_blocks_sed_4c.yaml), or use a separator without Time-FiLM")


def needs_activity(separator: torch.nn.Module) -> bool:
    """Whether the separator is conditioned on the slots' activity tracks (Time-FiLM)."""
    return bool(getattr(separator, "needs_activity", False))


def check_pair(tagger: Optional[torch.nn.Module], separator: torch.nn.Module,
               tagger_name: str = "the tagger", separator_name: str = "the separator") -> None:
    """A Time-FiLM separator needs a tagger with frame outputs (``forward_frames``): else one
    error naming both (``tagger`` None = oracle labels, always fine)."""
    if needs_activity(separator) and tagger is not None and not hasattr(tagger, "forward_frames"):
        raise S5InputError(ACTIVITY_MISMATCH.format(tagger=tagger_name, separator=separator_name))


class S5Pipeline(torch.nn.Module):
    """Tagger + separator in eval mode.

    Args:
        tagger: ``tagger(mixture [B, 4, T]) -> logits [B, 3, 19]``.
        separator: ``separator.separate(mixture [B, 4, T], query [B, 54]) -> [B, 3, 1, T]``.
        calibration: calibrated slot decisions (default None: the baseline's argmax).
        precision: ``"fp32"`` (default) or ``"bf16"`` (opt-in; see the module docstring).

    A separator with ``needs_activity`` needs a tagger with ``forward_frames`` (an SED tagger).
    """

    def __init__(self, tagger: Optional[torch.nn.Module], separator: torch.nn.Module,
                 calibration: Optional[Calibration] = None, precision: str = "fp32"):
        super().__init__()
        check_pair(tagger, separator)
        check_precision(precision, "precision")
        self.tagger = tagger
        self.calibration = calibration
        self.separator = separator
        self.precision = precision
        self.eval()

    @torch.inference_mode()
    def separate(self, mixture: torch.Tensor, labels: Sequence[Sequence[str]],
                 activity: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Query the separator with given label lists (oracle mode): -> [B, 3, 1, T].

        ``activity`` [B, 3, K]: the slots' activity tracks, required by (and only given to) a
        separator that ``needs_activity``."""
        query = torch.stack([labels_to_query(lab) for lab in labels]).to(mixture.device)
        extra = {}
        if needs_activity(self.separator):
            if activity is None:
                raise S5InputError("this separator (Time-FiLM) needs the slots' activity tracks; none were given")
            extra["activity"] = activity.to(mixture.device)
        with precision_context(self.precision, mixture.device):
            return self.separator.separate(mixture, query, **extra)

    @torch.inference_mode()
    def forward(self, mixture: torch.Tensor) -> S5Output:
        """mixture [B, 4, T] -> tagged labels, their probabilities and separated waveforms."""
        if self.tagger is None:
            raise RuntimeError("S5Pipeline built without a tagger: use separate() with oracle labels")
        with precision_context(self.precision, mixture.device):
            if needs_activity(self.separator):
                logits, frame_logits = self.tagger.forward_frames(mixture)
            else:
                logits, frame_logits = self.tagger(mixture), None
        labels, probs = slot_predictions(at_least_float32(logits), self.calibration)
        if frame_logits is None:
            return S5Output(labels, probs, self.separate(mixture, labels))
        return S5Output(labels, probs, self.separate(mixture, labels, slot_tracks(torch.sigmoid(at_least_float32(frame_logits)),
                                                                                  labels)))


def active_slots(labels: Sequence[str]) -> List[int]:
    """Indices of the non-silent slots (the ones written as estimates)."""
    return [i for i, lab in enumerate(labels) if lab != SILENCE]
