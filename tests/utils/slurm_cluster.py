"""A real single-node Slurm cluster on this machine, for tests that submit jobs.

Use the context manager or the session-scoped pytest fixture::

    from slurm_cluster import local_slurm, slurm_cluster   # tests/utils on sys.path

    with local_slurm() as cluster:        # raises SlurmUnavailable if it cannot be done here
        subprocess.run(["sbatch", "--wait", "--wrap", "true"], check=True)

    def test_x(slurm_cluster):            # pytest.skip(reason) if unavailable
        ...

Bring-up runs tools/local_slurm/start_local_slurm.sh (root on Debian: installs munge,
slurmctld, slurmd and slurm-client, writes /etc/slurm/slurm.conf, starts the daemons,
waits for the node to be idle); tear-down runs stop_local_slurm.sh, which stops only the
daemons the start script started. Both are bounded by timeouts. Within one Python process
the cluster is brought up once and stopped when its last user leaves, so several test
modules can import the fixture (or nest ``local_slurm()``) at no extra cost.
Set DCASE26T4_NO_SLURM=1 to refuse bring-up (the tests then skip, saying so).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT_DIR = REPO_ROOT / "tools" / "local_slurm"
START_TIMEOUT_S = 420   # apt-get install of four packages dominates
STOP_TIMEOUT_S = 90
EXIT_UNAVAILABLE, EXIT_REFUSED = 2, 3   # exit codes of start_local_slurm.sh


class SlurmUnavailable(RuntimeError):
    """A local Slurm cluster cannot be brought up here (the message says why)."""


@dataclass(frozen=True)
class LocalSlurm:
    """A running local cluster: its node name and the start script's log."""

    node: str
    start_log: str


def _run_script(name: str, timeout_s: int, env: dict) -> subprocess.CompletedProcess:
    """Run tools/local_slurm/<name>; on timeout kill its whole process group."""
    proc = subprocess.Popen(["bash", str(SCRIPT_DIR / name)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise RuntimeError(f"{name} did not finish within {timeout_s} s:\n{out}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, None)


def _check_prerequisites() -> None:
    if os.environ.get("DCASE26T4_NO_SLURM"):
        raise SlurmUnavailable("DCASE26T4_NO_SLURM is set")
    if os.geteuid() != 0:
        raise SlurmUnavailable("bringing up Slurm needs root (installs packages, starts daemons)")
    if not Path("/etc/debian_version").is_file() or shutil.which("apt-get") is None:
        raise SlurmUnavailable("bringing up Slurm needs a Debian system with apt-get")


_shared: Optional[LocalSlurm] = None
_shared_env: dict = {}
_users = 0


@contextmanager
def local_slurm(env: Optional[dict] = None) -> Iterator[LocalSlurm]:
    """Bring up the local cluster (once per process), yield it, stop it after the last user.

    env: extra environment for the scripts (e.g. LOCAL_SLURM_CPUS), used at bring-up.

    Raises SlurmUnavailable (not root, not Debian, packages not installable, or a Slurm
    configuration that is not ours) and RuntimeError (the daemons did not come up).
    """
    global _shared, _shared_env, _users
    if _shared is None:
        _check_prerequisites()
        run_env = _shared_env = {**os.environ, **(env or {})}
        result = _run_script("start_local_slurm.sh", START_TIMEOUT_S, run_env)
        if result.returncode in (EXIT_UNAVAILABLE, EXIT_REFUSED):
            raise SlurmUnavailable(result.stdout.strip().splitlines()[-1])
        if result.returncode != 0:
            _run_script("stop_local_slurm.sh", STOP_TIMEOUT_S, run_env)
            raise RuntimeError(f"start_local_slurm.sh failed ({result.returncode}):\n{result.stdout}")
        node = subprocess.run(["hostname", "-s"], capture_output=True, text=True).stdout.strip()
        _shared = LocalSlurm(node=node, start_log=result.stdout)
    _users += 1
    try:
        yield _shared
    finally:
        _users -= 1
        if _users == 0:
            _shared = None
            result = _run_script("stop_local_slurm.sh", STOP_TIMEOUT_S, _shared_env)
            if result.returncode != 0:
                raise RuntimeError(f"stop_local_slurm.sh failed:\n{result.stdout}")


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[LocalSlurm]:
    """The local Slurm cluster for the whole test session; skips with the reason if unavailable."""
    try:
        with local_slurm() as cluster:
            yield cluster
    except SlurmUnavailable as err:
        pytest.skip(f"no local Slurm cluster: {err}")
