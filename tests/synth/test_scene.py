"""Rendering: level rule, background level, placement, dry target, fast path == reference, metadata."""
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from synth_corpus import SR, scene_config
from espnet2_ext.errors import S5InputError
from espnet2_ext.synth.room import SofaRoom, direct_path_rir
from espnet2_ext.synth.sampler import SceneSampler, scene_rng
from espnet2_ext.synth.render import SceneRenderer, render_scene_reference
from espnet2_ext.synth.scene import CorpusPaths, Event, Scene

D = "data/dev_set"


def one_event_scene(corpus, onset=0.3, snr=10.0, source="Speech/sub0/Speech_0.wav", pos_index=4,
                    bg=None, duration=2.0):
    room = SofaRoom.open(corpus / "dev_set/room_ir/train/room_a.sofa")
    fg = []
    if source is not None:
        dur = sf.info(str(corpus / "dev_set/sound_event/train" / source)).duration
        fg = [Event("Speech", source, 0, onset, min(dur, duration), [room.positions[pos_index].tolist()],
                    snr, "foreground")]
    return Scene(config=scene_config("train", duration), fg_events=fg, int_events=[],
                 bg_events=bg or [], room_info=room.room_info(f"{D}/room_ir/train/room_a.sofa", [6, 50])), room


def expected_wet(corpus, scene, room):
    """Independent float64 computation with np.convolve -> (gain, wet [C, n+L-1], dry [n+L-1])."""
    ev = scene.fg_events[0]
    x, _ = sf.read(str(corpus / "dev_set/sound_event/train" / ev.source_file), dtype="float32")
    x = (x / np.abs(x).max()).astype(np.float64)
    h = room.rir(ev.event_position, SR)
    wet = np.stack([np.convolve(x, hc) for hc in h])
    gain = 10 ** ((-55 + ev.snr - 10 * np.log10(np.mean(wet ** 2))) / 20)
    return gain, wet, np.convolve(x, direct_path_rir(h[0], SR, (6, 50)))


def test_level_rule_placement_truncation_and_dry(tiny_corpus):
    scene, room = one_event_scene(tiny_corpus, onset=1.7)       # 1.7 s + clip + tail > 2 s: truncated
    out = SceneRenderer(tiny_corpus).render(scene)
    gain, wet, dry = expected_wet(tiny_corpus, scene, room)
    # level rule: power over the FULL convolution (tail included) = ref_db + snr
    assert 10 * np.log10(np.mean((gain * wet) ** 2)) == pytest.approx(-55 + 10.0, abs=1e-9)
    onset, t = int(1.7 * SR), scene.n_samples
    ref = np.zeros((4, t))
    ref[:, onset:] = gain * wet[:, :t - onset]
    scale = np.abs(ref).max()
    np.testing.assert_allclose(out.mixture, ref, atol=1e-5 * scale)
    assert np.abs(out.mixture[:, :onset]).max() < 1e-5 * scale    # silent before the onset
    ref_dry = np.zeros(t)
    ref_dry[onset:] = gain * dry[:t - onset]
    assert out.dry.shape == (1, 1, t)
    np.testing.assert_allclose(out.dry[0, 0], ref_dry, atol=1e-5 * scale)


def test_background_level_tiling_and_offset(tiny_corpus):
    r = SceneRenderer(tiny_corpus)
    empty, _ = one_event_scene(tiny_corpus, source=None)          # no events, no background
    out = r.render(empty)
    assert not out.mixture.any() and out.dry.shape == (0, 1, empty.n_samples)
    short = Event(None, "bg_short.wav", None, 0, 2.0, None, 0, "background")
    scene, _ = one_event_scene(tiny_corpus, source=None, bg=[short])
    mix = r.render(scene).mixture.astype(np.float64)
    assert 10 * np.log10(np.mean(mix ** 2)) == pytest.approx(-55.0, abs=1e-4)
    n = sf.info(str(tiny_corpus / "dev_set/noise/train/bg_short.wav")).frames
    np.testing.assert_allclose(mix[:, n:2 * n], mix[:, :scene.n_samples - n][:, :n], rtol=1e-6)
    long = Event(None, "bg_long.wav", 1, 0, 2.0, None, 0, "background")
    scene, _ = one_event_scene(tiny_corpus, source=None, bg=[long])
    mix = r.render(scene).mixture.astype(np.float64)
    x, _ = sf.read(str(tiny_corpus / "dev_set/noise/train/bg_long.wav"), dtype="float32")
    seg = x[SR:SR + scene.n_samples].T.astype(np.float64)
    np.testing.assert_allclose(mix, seg * np.sqrt(10 ** -5.5 / np.mean(seg ** 2)), rtol=1e-5, atol=1e-9)


def test_background_in_place_equals_the_float64_background(tiny_corpus):
    r = SceneRenderer(tiny_corpus)
    short = Event(None, "bg_short.wav", None, 0, 2.0, None, 0, "background")    # tiled
    long = Event(None, "bg_long.wav", 1, 0, 2.0, None, 0, "background")         # offset 1 s
    scene, _ = one_event_scene(tiny_corpus, source=None, bg=[short, long])
    expected = r.background(scene, 4)
    out = np.zeros((4, scene.n_samples), np.float32)
    r.add_background(scene, out)
    np.testing.assert_allclose(out, expected, atol=1e-6 * np.abs(expected).max())
    r.add_background(scene, out)                                                # adds, not overwrites
    np.testing.assert_allclose(out, 2 * expected, atol=2e-6 * np.abs(expected).max())


def test_fast_path_matches_float64_reference(tiny_corpus):
    sampler = SceneSampler(scene_config(), {"nevent_range": [3, 3], "ninterference_range": [2, 2]}, tiny_corpus)
    r = SceneRenderer(tiny_corpus, sampler.sources, sampler.rirs)
    for i in range(4):
        scene = sampler.sample(scene_rng(7, 0, i))
        fast, ref = r.render(scene), render_scene_reference(r, scene)
        assert fast.mixture.dtype == np.float32 and fast.dry.shape == (3, 1, scene.n_samples)
        scale = np.abs(ref.mixture).max()
        np.testing.assert_allclose(fast.mixture, ref.mixture, atol=2e-6 * scale)
        np.testing.assert_allclose(fast.dry, ref.dry, atol=2e-6 * scale)


def test_metadata_round_trip_gives_identical_mixture(tiny_corpus, tmp_path):
    sampler = SceneSampler(scene_config(duration=1.5), {}, tiny_corpus)
    scene = sampler.sample(scene_rng(3, 1, 2))
    meta = scene.to_metadata()
    assert list(meta) == ["config", "fg_events", "bg_events", "int_events", "room"]
    assert meta["room"]["main"] == "SofaRoom.from_metadata"
    assert meta["config"]["foreground_dir"] == "data/dev_set/sound_event/train"
    assert meta["room"]["args"]["metadata"]["sofa_path"] == "data/dev_set/room_ir/train/room_a.sofa"
    assert [e["event_time"] for e in meta["fg_events"]] == sorted(e["event_time"] for e in meta["fg_events"])
    path = tmp_path / "scene.json"
    path.write_text(json.dumps(meta, indent=4))
    back = Scene.from_metadata(path)
    assert back.to_metadata() == meta
    r = SceneRenderer(tiny_corpus)
    sorted_scene = Scene.from_metadata(meta)
    np.testing.assert_array_equal(r.render(back).mixture, SceneRenderer(tiny_corpus).render(sorted_scene).mixture)
    # corpus root moved: the same metadata resolves against another root
    assert CorpusPaths("/x/y").resolve("data/dev_set/a.wav").as_posix() == "/x/y/dev_set/a.wav"
    bad = dict(meta)
    del bad["room"]
    with pytest.raises(S5InputError, match="malformed"):
        Scene.from_metadata(bad)


def test_position_not_in_room_is_a_clear_error(tiny_corpus):
    scene, _ = one_event_scene(tiny_corpus)
    scene.fg_events[0].event_position = [[9.0, 9.0, 9.0]]
    with pytest.raises(S5InputError, match="room_a.sofa"):
        SceneRenderer(tiny_corpus).render(scene)


def test_the_same_bits_whatever_the_thread_count(tiny_corpus):
    """torch's transforms and sums split work by thread; rendering runs on one thread so that
    s5_synthesize (main process) and a loader worker (one thread) give the same items."""
    sampler = SceneSampler(scene_config(duration=10.0), {"nevent_range": [3, 3], "ninterference_range": [2, 2]},
                           tiny_corpus)
    r = SceneRenderer(tiny_corpus, sampler.sources, sampler.rirs)
    scenes = [sampler.sample(scene_rng(3, 0, i)) for i in range(3)]
    threads = torch.get_num_threads()
    try:
        renders = {}
        for n in (1, 2):
            torch.set_num_threads(n)
            renders[n] = [r.render(scene) for scene in scenes]
            assert torch.get_num_threads() == n            # the caller's setting is given back
    finally:
        torch.set_num_threads(threads)
    for one, two in zip(renders[1], renders[2]):
        assert np.array_equal(one.mixture, two.mixture) and np.array_equal(one.dry, two.dry)


def test_rendered_arrays_are_fresh_whatever_rendering_comes_next(tiny_corpus):
    """The renderer reuses scratch buffers for its temporaries; what it returns never shares them."""
    sampler = SceneSampler(scene_config(), {"nevent_range": [3, 3], "ninterference_range": [1, 1]}, tiny_corpus)
    r = SceneRenderer(tiny_corpus, sampler.sources, sampler.rirs)
    first = r.render(sampler.sample(scene_rng(5, 0, 0)))
    kept = (first.mixture.copy(), first.dry.copy())
    no_bg = sampler.sample(scene_rng(5, 0, 1))
    no_bg.bg_events = []                                  # the path that copies the mixture out
    second = r.render(no_bg)
    assert np.array_equal(first.mixture, kept[0]) and np.array_equal(first.dry, kept[1])
    scratch = [b for b in r._scratch.__dict__.values()]
    assert scratch and not any(np.shares_memory(a, b.numpy().view(np.uint8))
                               for a in (first.mixture, first.dry, second.mixture, second.dry) for b in scratch)


def test_dry_slots_put_the_targets_in_slot_order_with_zero_rows(tiny_corpus):
    sampler = SceneSampler(scene_config(), {"nevent_range": [2, 2], "ninterference_range": [1, 1]}, tiny_corpus)
    r = SceneRenderer(tiny_corpus, sampler.sources, sampler.rirs)
    scene = sampler.sample(scene_rng(9, 0, 0))
    plain = r.render(scene)
    slotted = r.render(scene, dry_slots=[1, None, 0])
    assert slotted.dry.shape == (3, 1, scene.n_samples)
    assert np.array_equal(slotted.dry[0], plain.dry[1]) and np.array_equal(slotted.dry[2], plain.dry[0])
    assert not slotted.dry[1].any() and np.array_equal(slotted.mixture, plain.mixture)
    with pytest.raises(ValueError, match="dry_slots"):
        r.render(scene, dry_slots=[0, 2])
