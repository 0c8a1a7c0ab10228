"""Split zip archives (x.z01 ... x.zip) read without `zip -s 0`."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile

import pytest

from espnet2_ext.corpus.split_zip import (SplitZipError, cut_into_segments, open_split_zip,
                                          split_parts)

MEMBERS = {f"top/dir{i % 2}/f{i}.bin": os.urandom(20000 + 3000 * i) for i in range(6)}
MEMBERS["top/readme.txt"] = b"hello " * 3000


def write_segments(folder, stem, segments):
    paths = [folder / f"{stem}.z{i + 1:02d}" for i in range(len(segments) - 1)]
    paths.append(folder / f"{stem}.zip")
    for p, data in zip(paths, segments):
        p.write_bytes(data)
    return paths


def assert_members(zf):
    names = {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
    assert names == MEMBERS


def zip_bytes(compression=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in MEMBERS.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_python_made_split_archive(tmp_path, compression):
    parts = write_segments(tmp_path, "x", cut_into_segments(zip_bytes(compression), 17000))
    assert len(parts) > 4
    assert split_parts(tmp_path / "x.zip") == parts
    with open_split_zip(parts) as zf:
        assert zf.testzip() is None
        assert_members(zf)


def test_single_zip_is_read_too(tmp_path):
    (tmp_path / "y.zip").write_bytes(zip_bytes())
    with open_split_zip(split_parts(tmp_path / "y.zip")) as zf:
        assert_members(zf)


@pytest.mark.parametrize("zip64", [False, True])
def test_info_zip_split_archive(tmp_path, zip64):
    if shutil.which("zip") is None:
        pytest.skip("the Info-ZIP `zip` program is not installed (needed to make the archive)")
    for name, data in MEMBERS.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    cmd = ["zip", "-q", "-r", "-s", "64k"] + (["-fz"] if zip64 else []) + ["z.zip", "top"]
    subprocess.run(cmd, cwd=tmp_path, check=True)
    parts = split_parts(tmp_path / "z.zip")
    assert len(parts) >= 2
    with open_split_zip(parts) as zf:
        assert zf.testzip() is None
        assert_members(zf)


def test_missing_or_damaged_segments(tmp_path):
    parts = write_segments(tmp_path, "x", cut_into_segments(zip_bytes(zipfile.ZIP_STORED), 17000))
    parts[1].unlink()
    with pytest.raises(SplitZipError, match=r"segments \[1, 3, 4"):
        split_parts(tmp_path / "x.zip")
    with pytest.raises(SplitZipError, match="only 1 segment"):
        open_split_zip([parts[-1]])
    (tmp_path / "n.zip").write_bytes(b"not a zip at all")
    with pytest.raises(SplitZipError, match="no end-of-central-directory"):
        open_split_zip([tmp_path / "n.zip"])
