"""tools/offline_wheels.sh: bad arguments are one ERROR line (exit 2) before any download. (Its
downloads need the package registry, which the suite does not assume.)"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "offline_wheels.sh"


@pytest.mark.parametrize("args, expected", [
    ([], "ERROR: usage: tools/offline_wheels.sh DEST PYVER [HAVE] (e.g. tools/offline_wheels.sh .whl 3.12)"),
    (["{tmp}/w", "twelve"], "ERROR: PYVER 'twelve' is not a CPython version like 3.12"),
    (["{tmp}/w", "3.12", "{tmp}/no-such-file"], "ERROR: HAVE file {tmp}/no-such-file not readable"),
    (["/proc/no-such/w", "3.12"], "ERROR: DEST /proc/no-such/w: cannot create or write it; give a writable folder"),
])
def test_bad_arguments_are_one_error_line(tmp_path, args, expected):
    proc = subprocess.run(["bash", str(SCRIPT), *(a.format(tmp=tmp_path) for a in args)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == expected.format(tmp=tmp_path) and proc.stdout == ""
    assert not (tmp_path / "w").exists()
