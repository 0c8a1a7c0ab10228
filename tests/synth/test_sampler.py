"""Scene sampling: official generate rules, duplicate-class constraints, seeding."""
import itertools

import numpy as np
import pytest

from synth_corpus import scene_config
from espnet2_ext.synth.sampler import SceneSampler, angle_deg, find_event_time, folder_key, scene_rng


def test_find_event_time_respects_max_overlap():
    rng = np.random.default_rng(0)
    for _ in range(200):
        events = []
        for _ in range(6):
            dur = float(rng.uniform(0.5, 3.0))
            onset = find_event_time(10.0, dur, 2, events, rng)
            if onset is not None:
                assert 0.0 <= onset <= 10.0 - dur
                events.append((onset, dur))
        for t in np.linspace(0, 10, 1001)[1:-1]:
            assert sum(s < t < s + d for s, d in events) <= 2
    full = [(0.0, 10.0), (0.0, 10.0)]
    assert find_event_time(10.0, 1.0, 2, full, rng) is None
    assert find_event_time(10.0, 10.0, 2, [(0.0, 1.0), (5.0, 1.0)], rng) is None


def test_folder_key():
    assert folder_key("sub0/a.wav", 1) == ("sub0",)
    assert folder_key("a.wav", 1) == ("a.wav",)          # files in the class folder: exact match only
    assert folder_key("sub0/x/a.wav", 0) == ("sub0", "x", "a.wav")


def test_same_class_duplicates_obey_angle_folder_and_file_rules(tiny_corpus):
    sampler = SceneSampler(scene_config(), {"nevent_range": [3, 3], "dupse_rate": 1.0, "max_n_dupse": 2},
                           tiny_corpus)
    n_dup_pairs = 0
    for i in range(40):
        scene = sampler.sample(scene_rng(1, 0, i))
        assert len(scene.fg_events) == 3
        for a, b in itertools.combinations(scene.fg_events, 2):
            if a.label != b.label:
                continue
            n_dup_pairs += 1
            assert angle_deg(np.array(a.event_position[0]), np.array(b.event_position[0])) > 60.0
            assert a.source_file != b.source_file
            fa, fb = (e.source_file.split("/", 1)[1] for e in (a, b))
            assert folder_key(fa, 1) != folder_key(fb, 1)
    assert n_dup_pairs >= 40          # every scene has at least one same-class pair


def test_unique_labels_without_duplicates_and_counts(tiny_corpus):
    sampler = SceneSampler(scene_config(), {"nevent_range": [0, 3], "dupse_rate": 0.0,
                                            "ninterference_range": [1, 2]}, tiny_corpus)
    counts = set()
    for i in range(30):
        scene = sampler.sample(scene_rng(2, 0, i))
        labels = [e.label for e in scene.fg_events]
        assert len(labels) == len(set(labels))
        counts.add(len(labels))
        assert 1 <= len(scene.int_events) <= 2 and all(e.role == "interference" for e in scene.int_events)
        for e in scene.fg_events:
            assert 5 <= e.snr <= 20 and 0 <= e.event_time <= 2.0 - e.event_duration
        for e in scene.int_events:
            assert 0 <= e.snr <= 15
        (bg,) = scene.bg_events
        assert (bg.source_time is None) == (bg.source_file == "bg_short.wav")
        assert bg.source_time is None or isinstance(bg.source_time, int)
    assert counts == {0, 1, 2, 3}


def test_seeding_is_a_pure_function_of_seed_epoch_index(tiny_corpus):
    gen = {"interference_snr_range": [3, 4], "ninterference_range": [2, 2]}   # alias spelling accepted
    a = SceneSampler(scene_config(), gen, tiny_corpus)
    b = SceneSampler(scene_config(), gen, tiny_corpus)
    for key in [(0, 0, 5), (0, 1, 5), (1, 0, 5)]:
        assert a.sample(scene_rng(*key)).to_metadata() == b.sample(scene_rng(*key)).to_metadata()
    assert a.sample(scene_rng(0, 0, 5)).to_metadata() != a.sample(scene_rng(0, 1, 5)).to_metadata()
    assert all(3 <= e.snr <= 4 for e in a.sample(scene_rng(0, 0, 1)).int_events)


def test_max_event_dur_longer_than_duration_is_rejected(tiny_corpus):
    cfg = scene_config()
    cfg["max_event_dur"] = 5.0
    with pytest.raises(Exception, match="max_event_dur"):
        SceneSampler(cfg, {}, tiny_corpus)
