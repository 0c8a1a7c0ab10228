"""The layout checker: passes on the mini corpus, names each problem, collects them all."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from espnet2_ext.bin import s5_verify_layout
from espnet2_ext.corpus.layout import verify_layout
from espnet2_ext.fileio import read_wav_header, write_pcm16
from espnet2_ext.s5.official import M2D_FOLDER, M2D_WEIGHTS
from espnet2_ext.synth.sofa import write_sofa


def test_mini_corpus_passes(mini_corpus):
    report = verify_layout(mini_corpus / "dev_set", mini_corpus / "eval_set",
                           mini_corpus / "checkpoint" / M2D_FOLDER)
    assert report.problems == []
    assert report.checked == {"M2D weights": 1, "SOFA": 3, "eval soundscape": 6,
                              "interference": 12, "metadata": 16, "noise": 5,
                              "sound_event": 162, "test oracle_target": report.checked[
                                  "test oracle_target"], "test soundscape": 8}
    assert report.checked["test oracle_target"] >= 8


def _first(folder, pattern="**/*.wav"):
    return sorted(folder.glob(pattern))[0]


def _missing_folder(dev):
    shutil.rmtree(dev / "noise" / "valid")
    return f"missing folder {dev / 'noise' / 'valid'}"


def _two_channel_noise(dev):
    path = _first(dev / "noise" / "train")
    write_pcm16(path, np.full((2, 32000), 0.1))
    return f"noise {path}: 2 channel(s), expected 4"


def _event_16k(dev):
    path = _first(dev / "sound_event" / "train" / "Speech")
    write_pcm16(path, np.full(8000, 0.1), sr=16000)
    return f"sound_event {path}: sample rate 16000 Hz, expected 32000 Hz"


def _unknown_class(dev):
    write_pcm16(dev / "sound_event" / "train" / "Whistle" / "a" / "x.wav", np.full(3200, 0.1))
    return f"unknown class folder {dev / 'sound_event' / 'train' / 'Whistle'}"


def _target_class_as_interference(dev):
    write_pcm16(dev / "interference" / "train" / "Speech" / "x.wav", np.full(3200, 0.1))
    return f"class folder {dev / 'interference' / 'train' / 'Speech'} is a target class"


def _missing_class(dev):
    shutil.rmtree(dev / "sound_event" / "train" / "Typing")
    return f"missing class folder {dev / 'sound_event' / 'train' / 'Typing'}"


def _empty_class(dev):
    folder = dev / "sound_event" / "valid" / "Cough"
    for p in folder.glob("**/*.wav"):
        p.unlink()
    return f"empty class folder {folder}"


def _truncated_sofa(dev):
    path = _first(dev / "room_ir" / "train", "*.sofa")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return f"room_ir {path}: unreadable or truncated SOFA file"


def _two_receiver_sofa(dev):
    path = _first(dev / "room_ir" / "valid", "*.sofa")
    write_sofa(path, np.random.default_rng(0).standard_normal((3, 2, 64)), 32000,
               np.eye(3))
    return f"room_ir {path}: 2 receivers, expected 4"


def _short_noise(dev):
    path = _first(dev / "noise" / "valid")
    write_pcm16(path, np.full((4, 16000), 0.1))
    return f"noise {path}: 0.500 s long, shorter than the required 1 s"


def _float_noise(dev):
    path = _first(dev / "noise" / "train")
    sf.write(str(path), np.full((32000, 4), 0.1, np.float32), 32000, subtype="FLOAT")
    return f"noise {path}: WAV format tag 3 (0x0003), expected 1 = plain PCM"


def _extensible_noise(dev):
    path = _first(dev / "noise" / "train")
    sf.write(str(path), np.full((32000, 4), 0.1), 32000, subtype="PCM_16", format="WAVEX")
    return f"noise {path}: WAV format tag 65534 (0xFFFE), expected 1 = plain PCM"


def _bad_oracle_label(dev):
    folder = dev / "synthesized" / "test" / "oracle_target"
    path = _first(folder)
    path.rename(folder / (path.name.rsplit("_", 1)[0] + "_Whistle.wav"))
    return "label 'Whistle' is not one of the 18 classes"


BREAKAGES = {
    "missing_folder": ("noise", _missing_folder),
    "two_channel_noise": ("noise", _two_channel_noise),
    "event_16k": ("sound_event", _event_16k),
    "unknown_class": ("sound_event", _unknown_class),
    "missing_class": ("sound_event", _missing_class),
    "target_class_as_interference": ("interference", _target_class_as_interference),
    "empty_class": ("sound_event", _empty_class),
    "truncated_sofa": ("room_ir", _truncated_sofa),
    "two_receiver_sofa": ("room_ir", _two_receiver_sofa),
    "short_noise": ("noise", _short_noise),
    "float_noise": ("noise", _float_noise),
    "extensible_noise": ("noise", _extensible_noise),
    "bad_oracle_label": ("synthesized", _bad_oracle_label),
}


@pytest.mark.parametrize("case", sorted(BREAKAGES))
def test_each_problem_is_named(case, small_corpus, clone_dev):
    folder, breaker = BREAKAGES[case]
    dev = clone_dev(small_corpus / "dev_set", folder)
    assert verify_layout(dev).ok
    expected = breaker(dev)
    problems = verify_layout(dev).problems
    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_all_problems_are_collected(small_corpus, clone_dev):
    dev = clone_dev(small_corpus / "dev_set", "noise", "sound_event", "room_ir")
    expected = [b(dev) for b in (_two_channel_noise, _event_16k, _unknown_class,
                                 _truncated_sofa, _missing_folder)]
    problems = verify_layout(dev).problems
    assert len(problems) == len(expected)
    for e in expected:
        assert any(e in p for p in problems), (e, problems)


def test_interference_required_only_after_stage_2(small_corpus, clone_dev):
    dev = clone_dev(small_corpus / "dev_set", "interference")
    shutil.rmtree(dev / "interference")
    assert verify_layout(dev, require_external=False).ok
    problems = verify_layout(dev).problems
    assert [p.split(": ", 1)[1] for p in problems] == [
        f"missing folder {dev / 'interference' / s}" for s in ("train", "valid")]


def test_m2d_and_eval_set_checks(tmp_path, small_corpus):
    m2d = tmp_path / M2D_FOLDER
    m2d.mkdir()
    report = verify_layout(eval_set=tmp_path / "nowhere", m2d_dir=m2d)
    assert len(report.problems) == 2
    assert f"missing folder {tmp_path / 'nowhere' / 'synthesized/eval/soundscape'}" in \
        report.problems[0]
    assert f"missing weight file {m2d / M2D_WEIGHTS}" in report.problems[1]
    (m2d / M2D_WEIGHTS).write_bytes(b"<html>not found</html>")
    assert "is not a PyTorch file" in verify_layout(m2d_dir=m2d).problems[0]
    assert verify_layout(eval_set=small_corpus / "eval_set").ok


def test_wav_header_tags(tmp_path):
    write_pcm16(tmp_path / "a.wav", np.zeros((4, 10)))
    sf.write(str(tmp_path / "b.wav"), np.zeros((10, 4)), 32000, subtype="FLOAT")
    sf.write(str(tmp_path / "c.wav"), np.zeros((10, 4)), 32000, subtype="PCM_16", format="WAVEX")
    assert read_wav_header(tmp_path / "a.wav") == (1, 4, 32000, 16, 10)
    assert read_wav_header(tmp_path / "b.wav").format_tag == 3
    assert read_wav_header(tmp_path / "c.wav").format_tag == 0xFFFE
    (tmp_path / "d.wav").write_bytes(b"not a wav")
    with pytest.raises(ValueError, match="RIFF"):
        read_wav_header(tmp_path / "d.wav")


def test_cli(small_corpus, clone_dev, capsys):
    s5_verify_layout.main(["--dev_set", str(small_corpus / "dev_set"), "--eval_set",
                           str(small_corpus / "eval_set"), "--checkpoint_dir",
                           str(small_corpus / "checkpoint"), "--progress", "false"])
    assert "layout OK" in capsys.readouterr().out
    dev = clone_dev(small_corpus / "dev_set", "noise", "sound_event")
    _two_channel_noise(dev)
    _event_16k(dev)
    with pytest.raises(SystemExit) as e:
        s5_verify_layout.main(["--dev_set", str(dev)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "ERROR: corpus layout check failed" in err and "2 problem(s):" in err
    assert "2 channel(s), expected 4" in err and "sample rate 16000 Hz" in err
