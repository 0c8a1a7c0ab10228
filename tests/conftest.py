"""Shared pytest fixtures: repository paths and the official parity fixture."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
RECIPE_DIR = REPO_ROOT / "egs2" / "dcase26t4" / "s5"
PARITY_DIR = Path(os.environ.get("DCASE26T4_PARITY_DIR",
                                 REPO_ROOT.parent / "shared" / "reference" / "parity"))

if PARITY_DIR.is_dir() and str(PARITY_DIR.parent) not in sys.path:
    sys.path.insert(0, str(PARITY_DIR.parent))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def recipe_dir() -> Path:
    return RECIPE_DIR


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    """The official parity fixture (shared/reference/parity beside the clone)."""
    if not PARITY_DIR.is_dir():
        pytest.fail(f"parity fixture not found at {PARITY_DIR}; set DCASE26T4_PARITY_DIR")
    return PARITY_DIR


@pytest.fixture
def tmpfs(tmp_path):
    """tmpfs(name, options) -> a fresh tmpfs mounted at tmp_path/name with mount ``options``
    (e.g. "size=64k", "ro,size=64k"): a file system that really fills up or refuses writes, even
    to root. Skips where mounting is not allowed (needs root / CAP_SYS_ADMIN); unmounted after."""
    mounted = []

    def mount(name: str, options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): {res.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)
