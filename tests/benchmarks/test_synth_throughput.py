"""benchmarks/synth_throughput.py: what it prints, that ``--revisions`` runs each revision's
own package and reports its whole-process CPU time and peak RSS, and that ``--profile`` prints
the shares of time by operation that benchmarks/README.md quotes (not how fast)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "synth_throughput.py"


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=900)


def test_rows_profile_and_a_revision_rendered_by_its_own_package():
    proc = run("--n", "2", "--n_cold", "1", "--n_reference", "1", "--n_real", "2", "--rounds", "1",
               "--revisions", "HEAD", "--device", "cpu", "--batch_size", "2", "--profile", "3",
               "--real_positions", "1080", "--real_mb_per_position", "10", "--rir_cache_mb", "512")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for row in ("ours, warm RIR cache", "ours, cold RIR cache", "float64 reference", "ours on the device (cpu"):
        assert re.search(re.escape(row) + r".*\d+\.\d\d", out), row
    for row in ("ours, real-corpus hit rate", "ours, node-wide store (warm)",
                "ours, real-corpus hit rate + node-wide store"):       # name, mix/cpu-s, ms, mix/s (wall)
        assert re.search("^" + re.escape(row) + r"\s+\d+\.\d\d\s+\d+\.\d\s+\d+\.\d\d$", out, re.M), row
    hits = re.findall(r"LRU hit rate 4\.7 % = rir_cache_mb 512 / \(1080 positions x 10 MB\).*"
                      r"drawn: (\d+) hits of (\d+) look-ups", out)
    assert len(hits) == 2 and all(int(n) > 0 and int(h) <= int(n) for h, n in hits), hits
    m = re.search(r"node-wide store: (\d+) files, (\d+\.\d) MB a position", out)
    assert m and int(m.group(1)) > 0 and float(m.group(2)) > 1, out
    assert "each revision's own package in its own process" in out
    assert re.search(r"HEAD\s+\d+\.\d\d x 1\.00\s+\d+\.\d\d x 1\.00\s+\d+ x 1\.00  vs HEAD", out)
    assert "profile of 3 warm items (cProfile, CPU time" in out
    shares = {}
    for row in ("forward transforms", "inverse transforms", "frequency-domain products", "levels",
                "clip placement", "copy-out with the background", "RIR-spectrum cache look-ups", "rest of the item"):
        m = re.search(re.escape(row) + r"\s+(-?\d+\.\d) %\s+-?\d+\.\d\d ms an item", out)
        assert m, row
        shares[row] = float(m.group(1))
    assert abs(sum(shares.values()) - 100) < 0.5, shares
    for row in ("forward transforms", "inverse transforms", "frequency-domain products"):
        assert shares[row] > 0, row


def test_an_unknown_revision_is_one_error_line():
    proc = run("--revisions", "no-such-revision")
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("ERROR: --revisions: no espnet2_ext/synth/dataset.py")
    assert "Traceback" not in proc.stderr
