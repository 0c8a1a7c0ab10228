"""Long-form decoding (espnet2_ext.s5.longform): a long scene of mini-corpus events at known times,
an oracle window decoder, short files, the cross-fade and the events table."""
from __future__ import annotations

import csv
from typing import Dict, List, Tuple

import numpy as np
import pytest
import soundfile as sf
import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.longform import (SED_HEADER, Track, TrackConfig, crossfade_weights, decode_long_form,
                                     onset_offset, sed_rows, window_starts, write_sed_table)

SR = 32000
W = 10 * SR
DURATION = 47.3                   # not a multiple of the hop: the last window is aligned to the end
TIME_TOL = 0.05                   # s, onset/offset tolerance
WAVE_TOL = 2e-3                   # max |track - true event| (the oracle adds 1e-4 RMS noise)
# (label, onset s, offset s), some off the 10 ms frame grid: across window borders (5, 10, 15,
# 25 s), Blender inside VacuumCleaner, Pour twice in the window [25, 35) s, Speech again 37 s
# later, MechanicalFans up to the file's end
EVENTS = [("Speech", 3.013, 6.407), ("VacuumCleaner", 8.004, 17.021), ("Blender", 12.0, 14.5),
          ("HairDryer", 24.637, 25.388), ("Pour", 26.0, 26.8), ("Pour", 33.05, 33.83),
          ("Speech", 40.0, 41.5), ("MechanicalFans", 43.0, DURATION)]


@pytest.fixture(scope="module")
def scene(small_corpus) -> Dict[str, object]:
    """A 47.3 s 4-channel scene: the corpus's dry clips (tiled to length) at the EVENTS times."""
    root = small_corpus
    rng = np.random.default_rng(0)
    total = int(round(DURATION * SR))
    truths = []
    for n, (label, on, off) in enumerate(EVENTS):
        clip_path = sorted((root / "dev_set" / "sound_event" / "train" / label).glob("*/*.wav"))[n % 2]
        clip, sr = sf.read(clip_path, dtype="float32")
        assert sr == SR
        a, b = int(round(on * SR)), int(round(off * SR))
        truth = np.zeros(total, dtype=np.float32)
        truth[a:b] = np.tile(clip, (b - a) // len(clip) + 1)[:b - a]
        truths.append(truth)
    gains = rng.uniform(0.5, 1.0, size=(4, len(EVENTS)))
    mix = np.stack([sum(g * np.roll(t, c) for g, t in zip(gains[c], truths)) for c in range(4)])
    mix += 1e-3 * rng.standard_normal(mix.shape)      # unique samples: the oracle finds each window
    return {"mixture": torch.from_numpy(mix.astype(np.float32)), "truths": truths}


def oracle(scene: Dict[str, object], calls: List[Tuple[int, int]], gain=lambda start: 1.0):
    """decode_window returning the true events active in each window (probability 0.9), cut to
    the window, times ``gain(start)``, plus 1e-4 RMS noise; records (start, length) per window."""
    ch0 = scene["mixture"][0].numpy()

    def decode(batch: torch.Tensor):
        out = []
        for win in batch:
            hits = np.flatnonzero(ch0 == win[0, 0].item())
            start = next(int(h) for h in hits if np.array_equal(ch0[h:h + 64], win[0, :64].numpy()))
            length = win.shape[-1]
            calls.append((start, length))
            noise = np.random.default_rng(start)
            dets = []
            for (label, on, off), truth in zip(EVENTS, scene["truths"]):
                if on * SR < start + length and off * SR > start:
                    cut = truth[start:start + length] * gain(start)
                    dets.append((label, 0.9, (cut + 1e-4 * noise.standard_normal(length)).astype(np.float32)))
            out.append(dets)
        return out

    return decode


def match(tracks: List[Track]) -> List[Track]:
    """The track of each of EVENTS (same label, nearest onset); asserts one track per event."""
    assert len(tracks) == len(EVENTS), [(t.label, round(t.onset, 2)) for t in tracks]
    out = []
    for label, on, _ in EVENTS:
        out.append(min((t for t in tracks if t.label == label), key=lambda t: abs(t.onset - on)))
    assert len({id(t) for t in out}) == len(EVENTS)
    return out


@pytest.mark.parametrize("hop_s", [5.0, 3.0, 10.0])
def test_one_track_per_event_at_the_true_times_and_continuous_across_windows(scene, hop_s):
    calls: List[Tuple[int, int]] = []
    total = scene["mixture"].shape[-1]
    tracks = decode_long_form(scene["mixture"], oracle(scene, calls), sample_rate=SR, hop_s=hop_s,
                              batch_size=4)
    starts = window_starts(total, W, int(hop_s * SR))
    assert [s for s, _ in calls] == starts and starts[-1] == total - W and starts[-2] < total - W
    assert all(n == W for _, n in calls)
    for (label, on, off), truth, track in zip(EVENTS, scene["truths"], match(tracks)):
        assert abs(track.onset - on) <= TIME_TOL and abs(track.offset - off) <= TIME_TOL, (label, track)
        assert track.probability == pytest.approx(0.9)
        assert track.waveform.dtype == np.float32 and track.waveform.shape == (total,)
        assert np.max(np.abs(track.waveform - truth)) < WAVE_TOL, label
        # outside the track's windows: exact zeros
        first, last = starts[track.windows[0]], starts[track.windows[-1]] + W
        assert not track.waveform[:first].any() and not track.waveform[last:].any()
        # no jump at any window border inside the track
        for b in sorted({s for s in starts} | {s + W for s in starts}):
            if first < b < last:
                jump = abs(float(track.waveform[b]) - float(track.waveform[b - 1]))
                assert jump <= abs(float(truth[b]) - float(truth[b - 1])) + WAVE_TOL, (label, b)
    vacuum = match(tracks)[1]
    assert len(vacuum.windows) >= 2
    assert vacuum.windows == list(range(vacuum.windows[0], vacuum.windows[-1] + 1))
    speech = [t for t in tracks if t.label == "Speech"]
    pour = [t for t in tracks if t.label == "Pour"]
    assert len(speech) == 2 and len(pour) == 2        # a class again (far apart / in one window): two tracks


def test_windows_that_disagree_in_gain_are_cross_faded_without_a_jump(scene):
    """The oracle's estimate is 1.0x the truth in even windows, 0.7x in odd ones: the track
    moves smoothly between them (a hard switch would jump by 0.3 |x| at the border)."""
    total = scene["mixture"].shape[-1]
    starts = window_starts(total, W, 5 * SR)
    gain = lambda start: 1.0 if starts.index(start) % 2 == 0 else 0.7
    tracks = decode_long_form(scene["mixture"], oracle(scene, [], gain), sample_rate=SR, hop_s=5.0)
    vacuum, truth = match(tracks)[1], scene["truths"][1]
    lo, hi = int(8.5 * SR), int(16.5 * SR)
    seg, ref = vacuum.waveform[lo:hi].astype(np.float64), truth[lo:hi].astype(np.float64)
    # the local gain (estimate / truth over 10 ms) stays in [0.7, 1] and changes by < 1e-4 per
    # sample (a switch without a cross-fade: >= 0.15 within 320 samples, >= 4.7e-4 per sample)
    box = np.ones(320)
    local = np.convolve(seg * ref, box, "same") / (np.convolve(ref * ref, box, "same") + 1e-9)
    assert local.min() > 0.69 and local.max() < 1.01
    assert np.abs(np.diff(local[640:-640])).max() < 1e-4
    assert local[int(1.0 * SR)] == pytest.approx(0.7, abs=0.02)     # 9.5 s: window 1 (0.7x) weighs 0.976
    assert local[int(4.0 * SR)] == pytest.approx(0.85, abs=0.02)    # 12.5 s: windows 1 and 2, 0.5 each
    assert local[int(6.0 * SR)] == pytest.approx(1.0, abs=0.02)     # 14.5 s: window 2 (1.0x) weighs 0.976


@pytest.mark.parametrize("seconds", [10.0, 6.0])
def test_a_short_file_is_one_call_on_the_file_as_it_is(seconds):
    n = int(seconds * SR)
    mix = torch.randn(4, n, generator=torch.Generator().manual_seed(1))
    outs = [np.random.default_rng(k).standard_normal(n).astype(np.float32) for k in range(2)]
    seen = []

    def decode(batch):
        seen.append(batch.clone())
        return [[("Speech", 0.8, outs[0]), ("silence", 0.1, np.zeros(n, np.float32)), ("Dog", 0.6, outs[1])]]

    tracks = decode_long_form(mix, decode, sample_rate=SR, hop_s=5.0, batch_size=4)
    assert len(seen) == 1 and seen[0].shape == (1, 4, n) and torch.equal(seen[0][0], mix)
    assert sorted(t.label for t in tracks) == ["Dog", "Speech"]          # silence dropped
    for t in tracks:
        assert np.array_equal(t.waveform, outs[0] if t.label == "Speech" else outs[1])
        assert t.probability == pytest.approx(0.8 if t.label == "Speech" else 0.6)
        assert t.onset < 0.05 and t.offset == pytest.approx(seconds, abs=0.011)


@pytest.mark.parametrize("total_s,hop_s,n_pairs", [(47.3, 5.0, 6), (47.3, 3.0, 0), (47.3, 10.0, 1),
                                                   (23.0, 7.5, 2), (10.5, 5.0, 0)])
def test_cross_fade_weights_sum_to_one_and_keep_a_constant_constant(total_s, hop_s, n_pairs):
    sr = 1000
    total, window = int(total_s * sr), 10 * sr
    starts = window_starts(total, window, int(hop_s * sr))
    w = crossfade_weights(starts, window, total)
    assert starts[0] == 0 and starts[-1] + window == total
    assert np.allclose(w.sum(0), 1.0, atol=1e-12) and (w >= 0).all()
    pairs = 0
    for k in range(1, len(starts)):       # two windows at a time: complementary raised cosines
        overlap = starts[k - 1] + window - starts[k]
        alone = ((k + 1 == len(starts) or starts[k + 1] >= starts[k - 1] + window)
                 and (k < 2 or starts[k - 2] + window <= starts[k]))      # no third window there
        if 0 < overlap <= window // 2 and alone:
            both = slice(starts[k], starts[k - 1] + window)
            assert np.allclose(w[k - 1, both] + w[k, both], 1.0)
            assert w[k, starts[k]] < 0.01 and w[k - 1, starts[k - 1] + window - 1] < 0.01
            mid = starts[k] + overlap // 2
            assert w[k, mid] == pytest.approx(0.5, abs=0.01)
            pairs += 1
    assert pairs == n_pairs
    constant = np.full(window, 0.25, np.float32)
    tracks = decode_long_form(torch.zeros(4, total), lambda b: [[("Buzzer", 0.5, constant)] for _ in b],
                              sample_rate=sr, hop_s=hop_s)
    assert len(tracks) == 1 and np.allclose(tracks[0].waveform, 0.25, atol=1e-6)
    assert tracks[0].onset == 0.0 and tracks[0].offset == pytest.approx(total_s)


@pytest.mark.parametrize("hop_s", [12.0, 10.001, 0.0, -1.0])
def test_a_hop_outside_0_to_the_window_is_a_clear_input_error(hop_s):
    with pytest.raises(S5InputError, match=r"hop_s must be > 0 and <= window_s \(10.0 s\)"):
        decode_long_form(torch.zeros(4, 20 * SR), lambda b: [[] for _ in b], sample_rate=SR, hop_s=hop_s)


def test_a_wrong_length_from_the_window_decoder_is_named():
    with pytest.raises(ValueError, match="expected the window's 320000 samples"):
        decode_long_form(torch.zeros(4, 15 * SR), lambda b: [[("Buzzer", 0.5, np.zeros(100))] for _ in b],
                         sample_rate=SR)


def test_the_events_table_is_the_dcase_sed_format_written_atomically(tmp_path):
    wav = np.zeros(SR, np.float32)
    tracks = [Track("Speech", 0.91234, 1.5, 3.25, wav), Track("Zipper (clothing)", 0.5, 0.0, 0.01, wav)]
    path = tmp_path / "out" / "events.tsv"
    write_sed_table(path, sed_rows("scene_01.wav", tracks))
    text = path.read_text()
    assert text.splitlines()[0] == "filename\tonset\toffset\tevent_label\tprobability"
    assert text.splitlines()[1] == "scene_01.wav\t1.500\t3.250\tSpeech\t0.9123"
    rows = list(csv.DictReader(text.splitlines(), delimiter="\t"))
    assert tuple(rows[0]) == SED_HEADER and rows[1]["event_label"] == "Zipper (clothing)"
    assert [p.name for p in path.parent.iterdir()] == ["events.tsv"]

    def failing_rows():
        yield ("scene_02.wav", 0.0, 1.0, "Speech", 0.5)
        raise RuntimeError("decoder died")

    with pytest.raises(RuntimeError):
        write_sed_table(path, failing_rows())
    assert path.read_text() == text and [p.name for p in path.parent.iterdir()] == ["events.tsv"]
    with pytest.raises(S5InputError, match="tab or line break"):
        write_sed_table(path, [("a\tb.wav", 0.0, 1.0, "Speech", 0.5)])
    assert path.read_text() == text


def test_two_simultaneous_events_of_one_class_are_told_apart_by_correlation():
    """Two 'Dog' events sounding together across two window borders: activity alone allows both
    pairings, the waveform correlation in the overlap picks the right one (no swap)."""
    total = 30 * SR
    rng = np.random.default_rng(3)
    truths = []
    for on, off in ((8.0, 16.0), (9.0, 15.5)):
        truth = np.zeros(total, np.float32)
        truth[int(on * SR):int(off * SR)] = 0.3 * rng.standard_normal(int(off * SR) - int(on * SR))
        truths.append(truth)

    def decode(batch):
        out = []
        for win in batch:
            start = int(round(win[0, 0].item()))          # channel 0 holds the sample index
            dets = [("Dog", 0.7 + 0.1 * j, t[start:start + W]) for j, t in enumerate(truths)
                    if t[start:start + W].any()]
            out.append(dets[::-1] if start // (5 * SR) % 2 else dets)   # slot order changes
        return out

    mix = torch.zeros(4, total)
    mix[0] = torch.arange(total, dtype=torch.float32)
    tracks = decode_long_form(mix, decode, sample_rate=SR, hop_s=5.0, batch_size=2)
    assert len(tracks) == 2
    for track, truth, (on, off), prob in zip(tracks, truths, ((8.0, 16.0), (9.0, 15.5)), (0.7, 0.8)):
        assert np.array_equal(track.windows, [0, 1, 2, 3] if off > 15 else [0, 1, 2])
        assert np.max(np.abs(track.waveform - truth)) < 1e-5
        assert abs(track.onset - on) <= 0.01 and abs(track.offset - off) <= 0.01
        assert track.probability == pytest.approx(prob)


def test_onset_offset_fills_short_gaps_and_drops_short_blips():
    """Clapping-like 30 ms pulses every 100 ms from 1 s to 2 s (gaps < min_gap_s: one event) and a
    20 ms click at 5 s (< min_dur_s: dropped) -> (1.0, 1.93)."""
    x = np.full(8 * SR, 1e-6, np.float32)
    for k in range(10):
        a = int((1.0 + 0.1 * k) * SR)
        x[a:a + int(0.03 * SR)] = 0.5
    x[5 * SR:int(5.02 * SR)] = 0.5
    assert onset_offset(x, SR) == pytest.approx((1.0, 1.93), abs=1e-9)
    assert onset_offset(np.zeros(SR, np.float32), SR) is None


def test_a_different_event_of_the_class_in_the_next_window_is_not_linked():
    """Window [0, 10) s finds Dog A (6-10 s); window [5, 15) s misses A and finds Dog B (9-14 s),
    active in the overlap too but uncorrelated with A: two tracks (rho < min_corr); with
    min_corr = -1 (activity alone) they would be merged."""
    total = 20 * SR
    rng = np.random.default_rng(4)
    a, b = np.zeros(total, np.float32), np.zeros(total, np.float32)
    a[6 * SR:10 * SR] = 0.3 * rng.standard_normal(4 * SR)
    b[9 * SR:14 * SR] = 0.3 * rng.standard_normal(5 * SR)

    def decode(batch):
        out = []
        for win in batch:
            start = int(round(win[0, 0].item()))
            out.append([("Dog", 0.9, (a if start == 0 else b)[start:start + W])]
                       if start < 10 * SR else [])
        return out

    mix = torch.zeros(4, total)
    mix[0] = torch.arange(total, dtype=torch.float32)
    tracks = decode_long_form(mix, decode, sample_rate=SR, hop_s=5.0)
    assert [(t.windows, round(t.onset, 2), round(t.offset, 2)) for t in tracks] == [([0], 6.0, 10.0),
                                                                                    ([1], 9.0, 14.0)]
    assert np.array_equal(tracks[0].waveform, a) and np.array_equal(tracks[1].waveform, b)
    merged = decode_long_form(mix, decode, sample_rate=SR, hop_s=5.0, config=TrackConfig(min_corr=-1.0))
    assert len(merged) == 1 and merged[0].windows == [0, 1]
