"""The add_data.sh filters, the interference / pick-up plans and the sharded run."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from espnet2_ext.corpus.external_data import (SKIPPED, Item, filter_clip, min_window_peak,
                                              plan_all, plan_interference, plan_pickup,
                                              process_wav, run_shard, summarize)
from espnet2_ext.errors import S5InputError

SR = 16000


def tone(seconds, peak=0.5, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (peak * np.sin(2 * np.pi * 440 * t + 0.3)).astype(np.float32)


@pytest.mark.parametrize("clip,status", [
    (tone(0.5, peak=0.019), "remove_low_amplitude"),
    (tone(0.099), "remove_too_short"),
    (np.concatenate([np.zeros(SR), tone(0.09), np.zeros(SR)]), "remove_too_short_after_trim"),
    (np.concatenate([tone(0.2), 0.01 * tone(10.2)]), "remove_contain_low_amplitude_segment"),
    (tone(0.5), "selected"),
    (np.concatenate([np.zeros(100), tone(0.5)]), "selected_trim"),
    (np.concatenate([tone(0.5), 0.01 * tone(9.9), tone(0.2)]), "selected"),  # every window loud
])
def test_filter_reasons(clip, status):
    got, kept = filter_clip(np.asarray(clip, np.float32), SR)
    assert got == status
    if status.startswith("selected"):
        assert kept is not None and kept[0] != 0 and kept[-1] != 0
    else:
        assert kept is None


def test_window_peak_matches_naive_loop():
    rng = np.random.default_rng(0)
    x = np.abs(rng.standard_normal(12345)) * rng.uniform(0, 1, 12345) ** 8
    for window, hop in [(1000, 100), (999, 37), (12345, 10), (4000, 4000)]:
        naive = min(x[s:s + window].max() for s in range(0, len(x) - window + 1, hop))
        assert min_window_peak(x, window, hop) == pytest.approx(naive, abs=0)
    assert min_window_peak(x, 20000, 100) == float("inf")


def test_process_wav_resamples_and_writes_pcm(tmp_path):
    src, dst = tmp_path / "in.wav", tmp_path / "out" / "x.wav"
    clip = np.concatenate([np.zeros(441), tone(1.0, sr=44100)])
    sf.write(str(src), np.stack([clip, clip], 1), 44100)     # stereo: down-mixed like librosa
    info = process_wav(src, dst)
    assert info["status"] == "selected_trim_resampled"
    out = sf.info(str(dst))
    assert (out.samplerate, out.channels, out.subtype) == (32000, 1, "PCM_16")
    assert out.frames == int(np.ceil(44100 * 32000 / 44100))
    assert process_wav(src, dst)["status"] == SKIPPED            # re-run leaves it alone
    assert sorted(p.name for p in dst.parent.iterdir()) == ["x.wav"]


def test_plans_fail_clearly(tmp_path):
    bg = tmp_path / "bg_scaper_fmt"
    (bg / "train" / "Bus").mkdir(parents=True)
    with pytest.raises(S5InputError, match=r"187 interference class folder\(s\) missing"):
        plan_interference(bg, tmp_path / "out")
    pickup = tmp_path / "p.json"
    pickup.write_text(json.dumps([{"file_name": "a.wav", "t4_label": "Speech",
                                   "convert_path": "train/Speech/s/a.wav"}]))
    with pytest.raises(S5InputError, match=r"1 of 1 EARS files .* missing .*a\.wav"):
        plan_pickup("EARS", tmp_path, pickup, tmp_path / "out")
    pickup.write_text(json.dumps([{"file_name": "a.wav"}]))
    with pytest.raises(S5InputError, match="row 0 is not"):
        plan_pickup("EARS", tmp_path, pickup, tmp_path / "out")
    with pytest.raises(S5InputError, match="--semhear_path .* is not a folder"):
        plan_all(tmp_path, tmp_path / "nope", tmp_path)


def test_mini_external_tree(small_corpus, tmp_path):
    """The fake tree of the mini corpus exercises every status; shards cover it exactly once."""
    dev = tmp_path / "dev_set"
    (dev / "config").mkdir(parents=True)
    for name in ("FSD50K_config.json", "EARS_config.json"):
        shutil.copy(small_corpus / "dev_set" / "config" / name, dev / "config" / name)
    ext = small_corpus / "external"
    items = plan_all(dev, ext / "BinauralCuratedDataset", ext / "EARS")
    assert all(isinstance(it, Item) for it in items) and len(items) == 15
    infos = run_shard(items, 1, 3, progress=False) + run_shard(items, 2, 3, progress=False) \
        + run_shard(items, 3, 3, progress=False)
    assert sorted(i["src_path"] for i in infos) == sorted(str(it.src) for it in items)
    text, summary = summarize(infos)
    assert summary["kept"] == 9 and summary["removed"] == 6
    assert summary["by_source"]["interference"] == {
        "remove_contain_low_amplitude_segment": 1, "remove_low_amplitude": 1,
        "remove_too_short": 1, "remove_too_short_after_trim": 1, "selected": 1,
        "selected_resampled": 2, "selected_trim": 1}
    assert summary["by_source"]["EARS"] == {"remove_too_short": 1, "selected_resampled": 3}
    assert "Processed 15 files: kept 9, removed 6, already present 0" in text
    written = sorted(p.relative_to(dev).as_posix() for p in dev.rglob("*.wav"))
    assert "sound_event/train/Speech/EARS_p001/emo_neutral_freeform.wav" in written
    assert "interference/valid/Bus/bus_val_good.wav" in written and len(written) == 9
    for p in dev.rglob("*.wav"):
        info = sf.info(str(p))
        assert (info.samplerate, info.channels) == (32000, 1)
    again = summarize(run_shard(items, 1, 1, progress=False))[1]
    assert again["skipped_exists"] == 9 and again["kept"] == 0
