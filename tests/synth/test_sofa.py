"""SOFA writer/reader: round trip, official variables, clear errors."""
import netCDF4
import numpy as np
import pytest

from espnet2_ext.errors import S5InputError
from espnet2_ext.synth.sofa import read_sofa, read_sofa_header, read_sofa_irs, write_sofa


def test_round_trip_and_official_layout(tmp_path):
    rng = np.random.default_rng(0)
    irs, pos = rng.standard_normal((5, 4, 64)), rng.standard_normal((5, 3))
    path = tmp_path / "room.sofa"
    write_sofa(path, irs, 32000, pos)
    data = read_sofa(path)
    assert data.sr == 32000 and data.irs.dtype == np.float32
    np.testing.assert_allclose(data.irs, irs, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(data.positions, pos)
    np.testing.assert_array_equal(read_sofa_irs(path, [3, 1]), irs[[3, 1]])
    with netCDF4.Dataset(str(path)) as ds:   # what python-sofa / SpAudSyn read
        assert ds.SOFAConventions == "GeneralFIR" and ds.DataType == "FIR"
        assert {k: len(v) for k, v in ds.dimensions.items()} == {"M": 5, "R": 4, "N": 64, "E": 1, "I": 1, "C": 3}
        assert ds["SourcePosition"].Type == "cartesian" and ds["SourcePosition"].Units == "metre"
        assert ds["Data.SamplingRate"].Units == "hertz"
        for v in ("ReceiverPosition", "ListenerPosition", "EmitterPosition", "Data.Delay"):
            assert v in ds.variables


def test_same_input_gives_identical_bytes(tmp_path):
    irs, pos = np.ones((2, 4, 8)), np.eye(3)[:2]
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    write_sofa(tmp_path / "a" / "r.sofa", irs, 8000, pos)
    write_sofa(tmp_path / "b" / "r.sofa", irs, 8000, pos)
    assert (tmp_path / "a" / "r.sofa").read_bytes() == (tmp_path / "b" / "r.sofa").read_bytes()


def test_truncated_or_missing_file_names_the_file(tmp_path):
    path = tmp_path / "room.sofa"
    write_sofa(path, np.ones((3, 4, 1000)), 8000, np.eye(3))
    cut = tmp_path / "cut.sofa"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(S5InputError, match="cut.sofa"):
        read_sofa(cut)
    with pytest.raises(S5InputError, match="missing.sofa"):
        read_sofa(tmp_path / "missing.sofa")
    not_sofa = tmp_path / "x.sofa"
    not_sofa.write_text("hello")
    with pytest.raises(S5InputError, match="x.sofa"):
        read_sofa(not_sofa)


@pytest.mark.parametrize("file_format", ["NETCDF3_CLASSIC", "NETCDF3_64BIT_OFFSET"])
def test_netcdf3_sofa_reads_like_netcdf4(tmp_path, file_format):
    """python-sofa reads netCDF-3 SOFA files, so we must too (same values as netCDF-4)."""
    rng = np.random.default_rng(3)
    irs, pos = rng.standard_normal((6, 4, 64)), rng.standard_normal((6, 3))
    write_sofa(tmp_path / "v4.sofa", irs, 32000, pos)
    write_sofa(tmp_path / "v3.sofa", irs, 32000, pos, file_format=file_format)
    assert (tmp_path / "v3.sofa").read_bytes()[:3] == b"CDF"                 # really netCDF-3
    a, b = read_sofa(tmp_path / "v4.sofa"), read_sofa(tmp_path / "v3.sofa")
    assert a.sr == b.sr == 32000
    assert np.array_equal(a.irs, b.irs) and np.array_equal(a.positions, b.positions)
    assert np.array_equal(read_sofa_irs(tmp_path / "v3.sofa", [4, 0]), irs[[4, 0]])
    assert read_sofa_header(tmp_path / "v3.sofa").irs.shape == (6, 4, 0)
