"""s5_prepare_audio: a user's own recordings -> 4-channel 32 kHz WAVs that s5_inference decodes."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipe"))
from s5_fake_models import TINY_M2D, official_separator, official_tagger, write_lightning_checkpoint  # noqa: E402

import cli_checks  # noqa: E402
from espnet2_ext.bin import s5_inference, s5_prepare_audio  # noqa: E402
from espnet2_ext.fileio import PREPARE_AUDIO_CMD  # noqa: E402
from espnet2_ext.s5.official import N_CHANNELS, SAMPLE_RATE  # noqa: E402
from espnet2_ext.s5.tagger import fabricate_m2d_weight_file  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("sox") is None, reason="the SoX program is not installed")
SR_IN = 48000


def tones(n_channels: int, seconds: float = 1.0) -> np.ndarray:
    """[T, C] float64: a different tone per channel (peak 0.3)."""
    t = np.arange(int(SR_IN * seconds)) / SR_IN
    return np.stack([0.3 * np.sin(2 * np.pi * 300 * (k + 1) * t) for k in range(n_channels)], axis=1)


def run(capsys, *argv: str) -> str:
    """Run the CLI; return stderr (SystemExit 2 is re-raised for the caller)."""
    s5_prepare_audio.main(list(argv))
    return capsys.readouterr().err


def expect_error(capsys, *argv: str) -> str:
    """s5_prepare_audio exits 2 with exactly one line on stderr, the ``ERROR:`` line."""
    message = cli_checks.expect_error(s5_prepare_audio.main, argv, capsys)
    assert "\n" not in message, message
    return message + "\n"


def test_48k_24bit_wav_becomes_32k_float(tmp_path, capsys):
    x = tones(4)
    sf.write(tmp_path / "rec.wav", x, SR_IN, subtype="PCM_24")
    run(capsys, str(tmp_path / "rec.wav"), str(tmp_path / "out.wav"))
    info = sf.info(str(tmp_path / "out.wav"))
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (SAMPLE_RATE, N_CHANNELS, "FLOAT", 32000)
    y, _ = sf.read(str(tmp_path / "out.wav"))
    ref = resample_poly(x, 2, 3, axis=0)
    assert np.abs(y - ref)[500:-500].max() < 1e-3          # channel order kept, same signal
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav", "rec.wav"]   # no temporaries


def test_flac_folder_to_pcm16_soundscape_folder(tmp_path, capsys):
    rec = tmp_path / "rec"
    rec.mkdir()
    sf.write(rec / "a.flac", tones(4), SR_IN, subtype="PCM_24", format="FLAC")
    sf.write(rec / "b.wav", tones(4, 0.5), 44100, subtype="PCM_16")
    run(capsys, str(rec), str(tmp_path / "scapes"), "--encoding", "pcm16")
    out = sorted((tmp_path / "scapes").iterdir())
    assert [p.name for p in out] == ["a.wav", "b.wav"]
    for p in out:
        info = sf.info(str(p))
        assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, N_CHANNELS, "PCM_16")
    assert sf.info(str(out[1])).frames == round(24000 * SAMPLE_RATE / 44100)   # 24000 samples at 44.1 kHz


@pytest.mark.parametrize("n_in", [1, 2])
def test_mono_and_stereo_are_refused_without_a_channel_map(tmp_path, capsys, n_in):
    sf.write(tmp_path / "rec.wav", tones(n_in), SR_IN)
    err = expect_error(capsys, str(tmp_path / "rec.wav"), str(tmp_path / "out.wav"))
    assert str(tmp_path / "rec.wav") in err and f"has {n_in} channel(s)" in err and "--upmix" in err
    assert not (tmp_path / "out.wav").exists()


def test_explicit_channel_maps(tmp_path, capsys):
    sf.write(tmp_path / "mono.wav", tones(1), SR_IN)
    sf.write(tmp_path / "stereo.wav", tones(2), SR_IN)
    sf.write(tmp_path / "six.wav", tones(6), SR_IN)
    run(capsys, str(tmp_path / "mono.wav"), str(tmp_path / "repeat.wav"), "--upmix", "repeat")
    run(capsys, str(tmp_path / "stereo.wav"), str(tmp_path / "pad.wav"), "--upmix", "pad")
    run(capsys, str(tmp_path / "six.wav"), str(tmp_path / "select.wav"), "--select", "6,1,2,3")
    rep, _ = sf.read(str(tmp_path / "repeat.wav"))
    assert rep.shape[1] == 4 and all(np.array_equal(rep[:, 0], rep[:, k]) for k in range(4))
    pad, _ = sf.read(str(tmp_path / "pad.wav"))
    assert np.abs(pad[:, :2]).max() > 0.1 and not pad[:, 2:].any()
    sel, _ = sf.read(str(tmp_path / "select.wav"))
    six = resample_poly(tones(6), 2, 3, axis=0)
    assert np.abs(sel - six[:, [5, 0, 1, 2]])[500:-500].max() < 1e-3
    err = expect_error(capsys, str(tmp_path / "six.wav"), str(tmp_path / "x.wav"))
    assert "has 6 channels" in err and "--select" in err


def test_unreadable_input_names_the_file(tmp_path, capsys):
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000WAVEjunk" * 8)
    err = expect_error(capsys, str(tmp_path / "bad.wav"), str(tmp_path / "out.wav"))
    assert f"SoX cannot read {tmp_path / 'bad.wav'}" in err
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("rate,channels,needle", [(48000, 4, "48000 Hz"), (SAMPLE_RATE, 2, "2 channel(s)")])
def test_inference_errors_point_to_prepare_audio(tmp_path, capsys, rate, channels, needle):
    scapes = tmp_path / "scapes"
    scapes.mkdir()
    sf.write(scapes / "mine.wav", np.zeros((rate // 10, channels)), rate)
    with pytest.raises(SystemExit):
        s5_inference.main(["--soundscape_dir", str(scapes), "--output_dir", str(tmp_path / "out"),
                           "--separator_ckpt", str(tmp_path / "none.ckpt"), "--oracle_labels", "false"])
    err = capsys.readouterr().err
    assert str(scapes / "mine.wav") in err and needle in err and PREPARE_AUDIO_CMD in err
    assert PREPARE_AUDIO_CMD == "python -m espnet2_ext.bin.s5_prepare_audio"


def test_converted_recordings_are_decoded(tmp_path, capsys):
    rec = tmp_path / "rec"
    rec.mkdir()
    sf.write(rec / "room.flac", tones(4), SR_IN, subtype="PCM_24", format="FLAC")
    run(capsys, str(rec), str(tmp_path / "scapes"))
    weights = fabricate_m2d_weight_file(tmp_path / "m2d", **TINY_M2D)
    tagger = write_lightning_checkpoint(tmp_path / "m2dat_4c.ckpt",
                                        official_tagger(weights, "4c", ["Speech", "silence", "Dishes"]))
    separator = write_lightning_checkpoint(tmp_path / "resunetk.ckpt", official_separator())
    s5_inference.main(["--soundscape_dir", str(tmp_path / "scapes"), "--output_dir", str(tmp_path / "est"),
                       "--tagger_ckpt", str(tagger), "--m2d_weight_file", str(weights),
                       "--separator_ckpt", str(separator), "--device", "cpu"])
    estimates = json.loads((tmp_path / "est" / "estimates.json").read_text())
    assert [e["label"] for e in estimates["room"]] == ["Speech", "Dishes"]
    for e in estimates["room"]:
        info = sf.info(str(tmp_path / "est" / e["filename"]))
        assert (info.samplerate, info.channels, info.frames) == (SAMPLE_RATE, 1, 32000)
