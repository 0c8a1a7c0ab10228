"""Frame activity (espnet2_ext.s5.activity): event times, oracle waveforms, class union, slot tracks."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from espnet2_ext.s5.activity import (ACTIVITY_HOP, class_activity, interval_activity, n_activity_frames,
                                     scene_activity, slot_tracks, waveform_activity)
from espnet2_ext.s5.labels import CLASS_TO_INDEX, labels_to_stack

SR = 32000


def test_the_grid_is_20_ms_and_covers_every_sample():
    assert ACTIVITY_HOP == 640
    assert n_activity_frames(4 * SR) == 200
    assert n_activity_frames(4 * SR + 1) == 201


def test_interval_activity_marks_the_frames_an_event_overlaps():
    # onset 0.1 s = sample 3200 = frame 5 exactly; 0.05 s = 1600 samples -> frames 5..7 (3200..4799)
    a = interval_activity([0.1, 0.0, 3.99], [0.05, 0.02, 1.0], 4 * SR)
    assert a.shape == (3, 200) and a.dtype == np.float32
    assert np.flatnonzero(a[0]).tolist() == [5, 6, 7]
    assert np.flatnonzero(a[1]).tolist() == [0]                     # 640 samples: frame 0 only
    assert np.flatnonzero(a[2]).tolist() == [199]                   # cut at the mixture end


def test_scene_activity_follows_the_slot_order_and_pads_silent_slots():
    events = [SimpleNamespace(event_time=0.0, event_duration=1.0),
              SimpleNamespace(event_time=2.0, event_duration=0.5)]
    a = scene_activity(events, order=[1, 0], n_slots=3, n_samples=4 * SR)
    assert a.shape == (3, 200)
    assert np.flatnonzero(a[0]).tolist() == list(range(100, 125))  # event 1: 2.0 .. 2.5 s
    assert np.flatnonzero(a[1]).tolist() == list(range(0, 50))     # event 0: 0 .. 1 s
    assert not a[2].any()


def test_waveform_activity_thresholds_each_track_at_minus_60_db_of_its_peak():
    x = np.zeros((3, 1, 10 * ACTIVITY_HOP), dtype=np.float32)
    x[0, 0, 2 * ACTIVITY_HOP + 5] = 1.0          # frame 2
    x[0, 0, 7 * ACTIVITY_HOP] = 2e-3             # frame 7: above 1e-3 of the peak
    x[0, 0, 8 * ACTIVITY_HOP] = 5e-4             # frame 8: below
    x[1, 0, :] = 0.1                             # always on
    a = waveform_activity(x)
    assert np.flatnonzero(a[0]).tolist() == [2, 7]
    assert a[1].all() and not a[2].any()          # an all-zero (silent) track stays off


def test_class_activity_is_the_union_of_the_slots_of_a_class():
    labels = labels_to_stack(["Speech", "Speech", "Cough"])[None]          # [1, 3, 19]
    slots = torch.zeros(1, 3, 6)
    slots[0, 0, :2] = 1
    slots[0, 1, 3:5] = 1
    slots[0, 2, 5] = 1
    c = class_activity(slots, labels)
    assert c.shape == (1, 6, 18)
    assert c[0, :, CLASS_TO_INDEX["Speech"]].tolist() == [1, 1, 0, 1, 1, 0]
    assert c[0, :, CLASS_TO_INDEX["Cough"]].tolist() == [0, 0, 0, 0, 0, 1]
    assert c.sum() == 5


def test_slot_tracks_take_the_probability_of_each_slots_class():
    probs = torch.rand(2, 7, 18)
    tracks = slot_tracks(probs, [["Cough", "silence", "Speech"], ["Speech", "Speech", "silence"]])
    assert tracks.shape == (2, 3, 7)
    assert torch.equal(tracks[0, 0], probs[0, :, CLASS_TO_INDEX["Cough"]])
    assert torch.equal(tracks[0, 2], probs[0, :, CLASS_TO_INDEX["Speech"]])
    assert torch.equal(tracks[1, 1], probs[1, :, CLASS_TO_INDEX["Speech"]])
    assert not tracks[0, 1].any() and not tracks[1, 2].any()
