import numpy as np
import pytest
import soundfile as sf

from espnet2_ext.bin.s5_inference import check_soundscapes, list_soundscapes, merge_records
from espnet2_ext.jobs import job_share
from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import write_json


def test_job_share_covers_everything_once():
    names = [f"s{i}" for i in range(10)]
    shares = [job_share(names, j, 3) for j in (1, 2, 3)]
    assert [len(s) for s in shares] == [4, 3, 3]
    assert sum(shares, []) == names
    with pytest.raises(S5InputError):
        job_share(names, 4, 3)


@pytest.mark.parametrize("sr,ch,msg", [(16000, 4, "16000 Hz"), (32000, 2, "2 ch")])
def test_bad_soundscape_is_named(tmp_path, sr, ch, msg):
    sf.write(tmp_path / "good.wav", np.zeros((100, 4)), 32000)
    sf.write(tmp_path / "bad.wav", np.zeros((100, ch)), sr)
    names = list_soundscapes(tmp_path)
    assert names == ["bad", "good"]
    with pytest.raises(S5InputError, match=msg) as e:
        check_soundscapes(tmp_path, names)
    assert "bad.wav" in str(e.value)


def test_merge_waits_for_every_record(tmp_path):
    write_json(tmp_path / "records" / "a.json", [{"filename": "a_0_Speech.wav", "label": "Speech", "probability": 0.9}])
    assert not merge_records(tmp_path, ["a", "b"])
    assert not (tmp_path / "estimates.json").exists()
    write_json(tmp_path / "records" / "b.json", [])
    assert merge_records(tmp_path, ["a", "b"])
    import json
    merged = json.loads((tmp_path / "estimates.json").read_text())
    assert merged["a"][0]["label"] == "Speech" and merged["b"] == []


def test_soundscapes_of_several_lengths_are_batched_by_length_and_too_short_ones_refused(tmp_path, capsys):
    from espnet2_ext.bin.s5_inference import MIN_SAMPLES, check_soundscapes, equal_length_batches
    from espnet2_ext.fileio import write_wav

    for name, n in (("a", 4000), ("b", 4000), ("c", 3000), ("d", 4000), ("e", 4000), ("f", 4000)):
        write_wav(tmp_path / f"{name}.wav", np.zeros((4, n), dtype=np.float32), 32000)
    frames = check_soundscapes(tmp_path, list("abcdef"))
    assert equal_length_batches(list("abcdef"), frames, 2) == [["a", "b"], ["c"], ["d", "e"], ["f"]]
    write_wav(tmp_path / "short.wav", np.zeros((4, MIN_SAMPLES - 1), dtype=np.float32), 32000)
    with pytest.raises(S5InputError, match=r"short.wav has 512 samples, fewer than the 513"):
        check_soundscapes(tmp_path, ["a", "short"])
