import numpy as np
import pytest
import soundfile as sf

from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import atomic_path, read_wav, write_wav


def test_write_read_roundtrip(tmp_path):
    x = np.random.default_rng(0).standard_normal((4, 800)).astype(np.float32) * 0.1
    write_wav(tmp_path / "a.wav", x, 32000)
    y, sr = read_wav(tmp_path / "a.wav", sr=32000, channels=4)
    assert sr == 32000 and y.shape == (4, 800)
    np.testing.assert_array_equal(x, y)
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]  # no temp files left


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "out.json") as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case,match", [
    ("missing", "not found"),
    ("sr", "16000 Hz but 32000 Hz"),
    ("channels", "2 channel"),
    ("corrupt", "cannot read"),
    ("empty", "empty"),
    ("nan", "NaN or Inf"),
])
def test_read_wav_bad_inputs_name_the_file(tmp_path, case, match):
    p = tmp_path / f"{case}.wav"
    if case == "sr":
        sf.write(p, np.zeros((100, 4)), 16000)
    elif case == "channels":
        sf.write(p, np.zeros((100, 2)), 32000)
    elif case == "corrupt":
        sf.write(p, np.zeros((1000, 4)), 32000)
        p.write_bytes(p.read_bytes()[:30])
    elif case == "empty":
        sf.write(p, np.zeros((0, 4)), 32000)
    elif case == "nan":
        x = np.zeros((100, 4), dtype=np.float32)
        x[3, 1] = np.nan
        sf.write(p, x, 32000, subtype="FLOAT")
    with pytest.raises(S5InputError, match=match) as e:
        read_wav(p, sr=32000, channels=4, what="soundscape")
    assert str(p) in str(e.value)


def test_written_files_get_normal_permissions(tmp_path):
    import os
    write_wav(tmp_path / "p.wav", np.zeros(10, dtype=np.float32), 32000)
    mode = os.stat(tmp_path / "p.wav").st_mode & 0o777
    assert mode & 0o044 == 0o044  # readable by group and others (umask 022)
