"""Frame-level activity of the target events: the one frame grid of the SED tagger and the
Time-FiLM separator.

Frames are ``ACTIVITY_HOP`` samples long (640 at 32 kHz = 20 ms, 50 frames per second);
frame ``k`` covers samples ``[k * hop, (k + 1) * hop)`` and a mixture of ``T`` samples has
``ceil(T / hop)`` frames (:func:`n_activity_frames`).

* slot activity ``[n_slots, K]``: 1 where the event of that slot sounds, in the item's slot
  order; silent slots are all zeros;
* class activity ``[K, 18]``: the union (max) of the slot tracks of each class.

Two sources of truth, one grid:

* a synthesized scene (training): from each event's onset and duration
  (:func:`scene_activity`; frame k is active iff it overlaps ``[onset, onset + duration)``);
* a stage-3 data dir or oracle-target folder (validation, oracle decoding), which keeps no
  event times: from the oracle target waveform (:func:`waveform_activity`; frame k is active
  iff its peak ``|x|`` exceeds ``WAVEFORM_THRESHOLD`` x the track's peak), i.e. the same
  onset..offset (plus the direct-path tail of a few ms, and minus any silent gap inside the clip).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from espnet2_ext.s5.labels import CLASS_TO_INDEX, NUM_CLASSES, SILENCE
from espnet2_ext.s5.official import SAMPLE_RATE

ACTIVITY_HOP = SAMPLE_RATE // 50          # 640 samples = 20 ms
WAVEFORM_THRESHOLD = 1e-3                 # -60 dB re the track's peak sample


def n_activity_frames(n_samples: int, hop: int = ACTIVITY_HOP) -> int:
    """Frames of a signal of ``n_samples``: ceil(n_samples / hop)."""
    return math.ceil(n_samples / hop)


def interval_activity(onsets_s: Sequence[float], durations_s: Sequence[float], n_samples: int,
                      sr: int = SAMPLE_RATE, hop: int = ACTIVITY_HOP) -> np.ndarray:
    """One track per (onset, duration) in seconds -> float32 [n_events, ceil(n_samples / hop)].

    The event spans samples [int(onset * sr), int(onset * sr) + int(duration * sr)) (the
    renderer's rule), clipped to the mixture; frame k is 1 iff it overlaps that span."""
    out = np.zeros((len(onsets_s), n_activity_frames(n_samples, hop)), dtype=np.float32)
    for i, (onset, duration) in enumerate(zip(onsets_s, durations_s)):
        start = int(onset * sr)
        stop = min(start + int(duration * sr), n_samples)
        if stop > start:
            out[i, start // hop:(stop - 1) // hop + 1] = 1.0
    return out


def scene_activity(events: Sequence, order: Sequence[int], n_slots: int, n_samples: int,
                   sr: int = SAMPLE_RATE) -> np.ndarray:
    """Slot activity [n_slots, K] of the foreground ``events`` (objects with ``event_time`` and
    ``event_duration`` in s) taken in slot ``order``; slots past ``len(order)`` are silent."""
    out = np.zeros((n_slots, n_activity_frames(n_samples)), dtype=np.float32)
    chosen = [events[i] for i in order]
    out[:len(chosen)] = interval_activity([e.event_time for e in chosen], [e.event_duration for e in chosen],
                                          n_samples, sr)
    return out


def waveform_activity(waveforms: np.ndarray, threshold: float = WAVEFORM_THRESHOLD,
                      hop: int = ACTIVITY_HOP) -> np.ndarray:
    """Activity of oracle targets: [n, ..., T] -> float32 [n, ceil(T / hop)].

    Frame k of track i is 1 iff max |x_i| over the frame > threshold * max |x_i| over the track;
    an all-zero track (a silent slot) is all zeros."""
    x = np.abs(np.asarray(waveforms, dtype=np.float32)).reshape(len(waveforms), -1, waveforms.shape[-1]).max(1)
    n_frames = n_activity_frames(x.shape[-1], hop)
    x = np.pad(x, ((0, 0), (0, n_frames * hop - x.shape[-1])))
    frame_peak = x.reshape(len(x), n_frames, hop).max(-1)
    track_peak = frame_peak.max(-1, keepdims=True)
    return ((frame_peak > threshold * track_peak) & (track_peak > 0)).astype(np.float32)


def class_activity(slot_activity: torch.Tensor, slot_classes: torch.Tensor) -> torch.Tensor:
    """Union of the slot tracks per class: [B, S, K] x one-hot [B, S, >=18] -> [B, K, 18].

    ``class[b, k, c] = max_s slot_activity[b, s, k] * slot_classes[b, s, c]`` (a silence column,
    index 18 of the tagger's one-hot, is dropped)."""
    onehot = slot_classes[..., :NUM_CLASSES].to(slot_activity.dtype)
    return (slot_activity[:, :, :, None] * onehot[:, :, None, :]).amax(dim=1)


def resample_frames(x: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Linear resampling along the last axis: [..., K_in] -> [..., n_frames] (frame centres aligned)."""
    if x.shape[-1] == n_frames:
        return x
    lead = x.shape[:-1]
    y = F.interpolate(x.reshape(1, -1, x.shape[-1]), size=n_frames, mode="linear", align_corners=False)
    return y.reshape(*lead, n_frames)


def slot_tracks(class_probs: torch.Tensor, labels: Sequence[Sequence[str]]) -> torch.Tensor:
    """Each slot's track = the frame probability of its class: class_probs [B, K, 18] and
    labels [B][S] -> [B, S, K] ('silence' slots all zeros)."""
    out = class_probs.new_zeros(class_probs.shape[0], len(labels[0]), class_probs.shape[1])
    for b, row in enumerate(labels):
        for s, label in enumerate(row):
            if label != SILENCE:
                out[b, s] = class_probs[b, :, CLASS_TO_INDEX[label]]
    return out
