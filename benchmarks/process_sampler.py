"""Measuring a benchmark's child process while it runs: the CPU seconds of its process tree (the
loader workers included), the GPU's utilisation (``nvidia-smi``), sampled every 0.1 s, and
``run_child``, which starts a child with a JSON request on stdin and reads its JSON result.
Used by ``train_throughput.py``."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

from espnet2_ext.errors import S5InputError

REPO = Path(__file__).resolve().parents[1]


def tree_cpu_seconds(pid: int) -> Dict[int, float]:
    """CPU seconds (user + system) of ``pid`` and of each of its live descendants (the loader
    workers), by process id."""
    from loader_scale import child_pids

    seconds, todo, tick = {}, [pid], os.sysconf("SC_CLK_TCK")
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            seconds[p] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
        todo += child_pids(p)
    return seconds


def gpu_utilisation() -> Optional[float]:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                              "-i", os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]],
                             capture_output=True, text=True, timeout=5).stdout
        return float(out.strip().splitlines()[0])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


class Sampler:
    """Samples (time, CPU seconds of the process tree, GPU %) of a child every ``interval`` s."""

    def __init__(self, pid: int, gpu: bool, interval: float = 0.1):
        self.pid, self.gpu, self.interval = pid, gpu, interval
        self.samples: List[tuple] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.time()
            self.samples.append((t, tree_cpu_seconds(self.pid), gpu_utilisation() if self.gpu else None))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def over(self, begin: float, end: float) -> Dict[str, Optional[float]]:
        """CPU % of one core and mean GPU % between wall times begin and end (None: too few samples)."""
        samples = self.samples
        first = max((k for k, s in enumerate(samples) if s[0] <= begin), default=0)
        last = min((k for k, s in enumerate(samples) if s[0] >= end), default=len(samples) - 1)
        inside = samples[first:last + 1]           # the window and the samples just outside it
        cpu = None
        if len(inside) >= 2 and inside[-1][0] > inside[0][0]:    # a process that ended in between is not counted
            used = sum(t - inside[0][1].get(p, 0.0) for p, t in inside[-1][1].items())
            cpu = 100 * used / (inside[-1][0] - inside[0][0])
        gpus = [s[2] for s in inside if s[2] is not None]
        return {"cpu_percent": cpu, "gpu_percent": statistics.mean(gpus) if gpus else None}


def run_child(cmd: List[str], request: dict, env: dict, gpu: bool, failure: str,
              keep_log: Optional[Path] = None) -> tuple:
    """Run a measuring child with ``request`` on stdin; (its JSON result, the sampler). Its
    stderr (the training log) is written to ``keep_log`` if given."""
    with tempfile.TemporaryFile("w+") as err:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                                    env=dict(os.environ, **env), cwd=REPO)
        except OSError as e:
            raise S5InputError(f"{failure} (cannot run {cmd[0]}: {e.strerror or e})") from e
        sampler = Sampler(proc.pid, gpu)
        out, _ = proc.communicate(json.dumps(request))
        sampler.stop()
        err.seek(0)
        log = err.read()
    if keep_log is not None:
        keep_log.write_text(log)
    lines = out.strip().splitlines()
    if proc.returncode != 0 or not lines:
        errors = [line for line in log.splitlines() if line.startswith("ERROR:")]
        last = (errors or log.strip().splitlines() or ["no output"])[-1]
        raise S5InputError(f"{failure} ({last.removeprefix('ERROR: ')})")
    return json.loads(lines[-1]), sampler
