"""benchmarks/official_speed.py: flag validation (one ERROR line, exit 2, before any work) and, where
the official baseline and its venv are on this machine, a tiny side-by-side run (not how fast)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "official_speed.py"
OFFICIAL_TREE = Path("/work/official_tree")
OFFICIAL_PYTHON = Path("/work/official_venv/bin/python")


def run(*flags: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *flags], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))


def fake_official_tree(root: Path) -> Path:
    """A folder with the official repository's files the script looks for (empty: never run)."""
    from official_speed import OFFICIAL_FILES      # benchmarks/ is on sys.path (tests/conftest.py)

    for name in OFFICIAL_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    return root


def assert_one_error(proc: subprocess.CompletedProcess, expected: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), proc.stderr[-2000:]
    assert expected in lines[0]
    assert proc.stdout == ""                     # refused before any work


@pytest.mark.parametrize("flags, expected", [
    (["--rounds", "0"], "argument --rounds: '0' is not a positive integer"),
    (["--threads", "-1"], "argument --threads"),
    (["--seconds", "0"], "argument --seconds"),
    (["--what", "eval"], "argument --what: invalid choice: 'eval'"),
    (["--bogus"], "--bogus"),
])
def test_a_bad_flag_is_one_error_line(tmp_path, flags, expected):
    official = fake_official_tree(tmp_path)
    assert_one_error(run("--official", str(official), "--official_python", sys.executable, *flags), expected)


def test_the_official_flags_are_required():
    assert_one_error(run(), "--official")


def test_a_folder_that_is_not_the_official_repository_is_refused(tmp_path):
    (tmp_path / "src").mkdir()
    proc = run("--official", str(tmp_path), "--official_python", sys.executable)
    assert_one_error(proc, "is not the official DCASE2026 Task 4 baseline repository (no src/models/s5/s5.py)")
    proc = run("--official", str(REPO), "--official_python", sys.executable)     # our repository is not it either
    assert_one_error(proc, "is not the official DCASE2026 Task 4 baseline repository")


def test_a_missing_official_python_is_refused(tmp_path):
    official = fake_official_tree(tmp_path / "tree")
    proc = run("--official", str(official), "--official_python", str(tmp_path / "no" / "python"))
    assert_one_error(proc, "--official_python:")


@pytest.mark.skipif(not (OFFICIAL_TREE / "src" / "models" / "s5" / "s5.py").is_file()
                    or not OFFICIAL_PYTHON.is_file(),
                    reason=f"needs the official baseline at {OFFICIAL_TREE} and its venv at {OFFICIAL_PYTHON}")
def test_tiny_side_by_side_run():
    proc = run("--official", str(OFFICIAL_TREE), "--official_python", str(OFFICIAL_PYTHON), "--threads", "1",
               "--seconds", "2", "--train_seconds", "1", "--rounds", "1", timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    row = r"\s+(\d+\.\d\d)\s+(\d+\.\d\d)\s+(\d+\.\d\d)x\s+(\d+\.\d\d)\s+(\d+\.\d\d)\s+(\d+\.\d\d)x\s+<="
    for what, target in (("chain", "0.5"), ("train", "0.7")):
        m = re.search(rf"^{what}{row}{target}x  (yes|no)/(yes|no)$", out, re.M)
        assert m, (what, out)
        official, ours, ratio = (float(m.group(k)) for k in (1, 2, 3))
        assert official > 0 and ours > 0
        assert abs(ratio - ours / official) < 0.01 + 0.01 * ratio
    m = re.search(r"^chain  check: same labels \[\[.*\]\]; max\|diff\|/peak (\S+)$", out, re.M)
    assert m, out
    assert float(m.group(1)) < 1e-4
    m = re.search(r"^train  check: loss official (\S+) ours (\S+), rel diff (\S+)$", out, re.M)
    assert m, out
    assert float(m.group(3)) < 1e-5 and float(m.group(1)) != 0
    for what in ("chain", "train"):
        m = re.search(rf"^{what}  first \(warm-up\) step, wall s: official (\d+\.\d\d), ours (\d+\.\d\d)$", out, re.M)
        assert m and float(m.group(1)) > 0 and float(m.group(2)) > 0, (what, out)
    assert re.search(r"^machine: .* CPUs, torch \S+ \(official venv\) / \S+ \(ours\), load average", out, re.M)
