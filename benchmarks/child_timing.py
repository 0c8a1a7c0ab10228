"""Timing helpers shared by the benchmarks that run each code in its own child process
(``separator_speed.py``, ``official_speed.py``). Standard library only: a child may run under
another project's python (the official baseline's venv), which has no ``espnet2_ext``."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple


def timed_steps(step: Callable[[], object], n: int) -> Tuple[List[float], List[float]]:
    """Run ``step`` ``n`` times: (wall seconds, process CPU seconds of all threads) per step."""
    times, cpu = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return times, cpu


def child_env(threads: int) -> Dict[str, str]:
    """The environment of a child: ``threads`` OpenMP/MKL threads, no inherited PYTHONPATH."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.pop("PYTHONPATH", None)
    return env


def run_json_child(cmd: Sequence[str], what: str, threads: int, cwd: Path, stdin: Optional[str] = None) -> dict:
    """Run ``cmd`` (a child that prints one JSON line last) and return that JSON.

    A failing child raises S5InputError naming ``what`` and the child's last stderr line."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True, env=child_env(threads), cwd=str(cwd),
                          input=stdin)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        from espnet2_ext.errors import S5InputError
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise S5InputError(f"the {what} child failed: {tail[0]}")
    return json.loads(lines[-1])


def cpu_flags(*names: str) -> Dict[str, bool]:
    """Which of the CPU feature flags ``names`` /proc/cpuinfo lists (all False elsewhere)."""
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        words = set()
    return {name: name in words for name in names}


def machine_line(torch_versions: str) -> str:
    """``machine: <arch>, <N> CPUs, torch <versions>, load average <1 min>``."""
    return (f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch_versions}, "
            f"load average {os.getloadavg()[0]:.1f}")
