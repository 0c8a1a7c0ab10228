"""Shared pytest fixtures (repository paths, the official parity fixture, the mini corpora) and the suite's schedule.

The suite runs on every core with pytest-xdist (pytest.ini: ``-n auto``; the scheduler is this
file's). Each test module is one work unit, so that its module- and session-scoped fixtures (a
trained mini recipe, a corpus) are built once, on one worker; the modules that share the local Slurm cluster
form one unit; the mini recipe, the longest module, starts first. Each worker runs torch on one
thread (``OMP_NUM_THREADS=1``, inherited by the processes the tests start): the workers already
use every core. ``pytest -n 0`` runs the suite in one process, as before.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):      # set before any test module imports torch
    os.environ["OMP_NUM_THREADS"] = "1"

REPO_ROOT = Path(__file__).resolve().parents[1]
RECIPE_DIR = REPO_ROOT / "egs2" / "dcase26t4" / "s5"
PARITY_DIR = Path(os.environ.get("DCASE26T4_PARITY_DIR",
                                 REPO_ROOT.parent / "shared" / "reference" / "parity"))

RELIABILITY_DIR = REPO_ROOT / "tests" / "reliability"
BENCHMARKS_DIR = REPO_ROOT / "benchmarks"      # the benchmark scripts import by name (tests read their tables)
for folder in (RELIABILITY_DIR, BENCHMARKS_DIR):
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
from reliability_cases import case_outcome, run_summary  # noqa: E402
from mini_corpora import DEFAULT, SMALL, shared_mini_corpus  # noqa: E402

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


@pytest.fixture(scope="session")
def mini_corpus(tmp_path_factory) -> Path:
    """The default mini corpus (what `run.sh --mini true` builds), built once per test run."""
    return shared_mini_corpus(tmp_path_factory, DEFAULT)


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    """The small mini corpus (seed 0, 2 s soundscapes), built once per test run."""
    return shared_mini_corpus(tmp_path_factory, SMALL)


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


#: modules that must run on one worker: they share a session fixture (the local Slurm cluster)
SHARED_WORK_UNITS = {"tests/recipe/test_slurm_recipe.py": "local_slurm", "tests/utils/test_slurm_pl.py": "local_slurm"}
#: modules started first: the longest one (the whole mini recipe) bounds the suite's wall time
FIRST = ("tests/recipe/test_mini_recipe.py",)


def work_unit(nodeid: str) -> str:
    """The xdist work unit of a test: its module, or the shared unit of SHARED_WORK_UNITS."""
    module = nodeid.split("::", 1)[0]
    return SHARED_WORK_UNITS.get(module, module)


def pytest_xdist_make_scheduler(config, log):
    """Schedule whole work units (see the module docstring), in collection order."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(config, items) -> None:
    """The longest module first (a stable sort keeps the rest in collection order)."""
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] not in FIRST)

#: case id -> whether its test passed, for the reliability catalogue's cases run in this session
CASE_PASSED: Dict[str, bool] = {}


def pytest_runtest_logreport(report) -> None:
    """Count the catalogue's cases (tests/reliability/conftest.py puts their ids in the report, so
    that under xdist the count is made where every worker's reports arrive)."""
    case_outcome(CASE_PASSED, report)


def pytest_terminal_summary(terminalreporter) -> None:
    """Print what this run of the catalogue tried and lost (counted, not a literal)."""
    if CASE_PASSED:
        terminalreporter.write_line(run_summary(CASE_PASSED))
