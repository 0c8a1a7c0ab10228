"""Rooms: RIR normalisation, position matching, the direct-path window."""
import numpy as np
import pytest

from espnet2_ext.errors import S5InputError
from espnet2_ext.synth.room import SofaRoom, direct_path_rir
from espnet2_ext.synth.sofa import write_sofa


def test_direct_window_inclusive_and_clipped_at_zero():
    sr = 32000
    h = np.arange(1, 5001, dtype=float) * 1e-4
    h[3000] = 10.0
    d = direct_path_rir(h, sr, (6, 50))
    nz = np.nonzero(d)[0]
    assert (nz[0], nz[-1]) == (3000 - 192, 3000 + 1600)        # 1,793 samples, inclusive
    np.testing.assert_array_equal(d[nz[0]:nz[-1] + 1], h[nz[0]:nz[-1] + 1])
    h2 = h.copy()
    h2[3000], h2[100] = 0.0, 10.0                                   # peak earlier than 6 ms
    nz = np.nonzero(direct_path_rir(h2, sr, (6, 50)))[0]
    assert (nz[0], nz[-1]) == (0, 1700)


def test_rir_normalisation_and_position_match(tmp_path):
    irs = np.random.default_rng(1).standard_normal((3, 4, 50))
    pos = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    write_sofa(tmp_path / "r.sofa", irs, 8000, pos)
    room = SofaRoom.open(tmp_path / "r.sofa")
    assert (room.nchan, room.nrir, room.rir_len, room.sr) == (4, 3, 50, 8000)
    h = room.rir([[0, 1.0, 0]], 8000)
    assert np.mean(np.sum(h ** 2, axis=-1)) == pytest.approx(1.0)
    np.testing.assert_allclose(h * np.sqrt(np.mean(np.sum(irs[1] ** 2, -1))), irs[1], rtol=1e-6)
    assert room.rir([[0, 1.0 + 5e-7, 0]], 8000).shape == (4, 50)    # within 1e-6
    with pytest.raises(S5InputError, match="r.sofa"):
        room.rir([[0, 1.1, 0]], 8000)
    assert room.rir([[1.0, 0, 0]], 16000).shape == (4, 100)        # resampled to the scene rate


def test_fft_size_is_the_smallest_power_of_two():
    from espnet2_ext.synth.room import fft_size

    assert fft_size(320_000 + 174_763 - 1) == 524_288                # 10 s + the official RIR length
    for n in (1, 2, 3, 17_199, 65_536, 65_537, 494_762):
        size = fft_size(n)
        assert size >= n and size & (size - 1) == 0 and size // 2 < max(n, 1)


def test_direct_window_is_the_nonzero_part_of_the_direct_rir():
    from espnet2_ext.synth.room import direct_path_window

    h = np.random.default_rng(2).standard_normal(6000)
    h[2500] = 50.0
    window = direct_path_window(h, 32000, (6, 50))
    assert (window.start, window.taps.shape[0]) == (2500 - 192, 1793)
    full = direct_path_rir(h, 32000, (6, 50))
    np.testing.assert_array_equal(full[window.start:window.start + 1793], window.taps)
    assert not full[:window.start].any() and not full[window.start + 1793:].any()
