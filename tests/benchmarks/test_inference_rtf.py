"""benchmarks/inference_rtf.py: the rows it prints and the ``--breakdown`` parts that
benchmarks/README.md quotes, on tiny settings (not how fast)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_rows_and_breakdown_by_part():
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "inference_rtf.py"), "--devices", "cpu",
                           "--batch_sizes", "1", "--repeats", "1", "--seconds", "0.5", "--threads", "1",
                           "--breakdown", "--bf16"], capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for path in ("ours", "official-style", "ours bf16"):
        assert re.search(r"cpu  batch 1  " + path + r"\s+median\s+\d+\.\d\d s .*RTF \d+\.\d+", out), path
    bf16 = re.search(r"cpu  batch 1  ours bf16 .*\[max \|diff\| / peak (\S+)\]", out)
    assert bf16 and 0 < float(bf16[1]) < 0.1, out      # bf16 really ran, within bf16 rounding
    m = re.search(r"cpu  batch 1  ours by part: read (\S+) s \((\d+) %\), tagger (\S+) s \((\d+) %\), "
                  r"separator (\S+) s \((\d+) %\), write (\S+) s \((\d+) %\); sum (\S+) s", out)
    assert m, out
    seconds = [float(m.group(k)) for k in (1, 3, 5, 7)]
    assert all(t > 0 for t in seconds)
    assert abs(sum(seconds) - float(m.group(9))) < 0.02
    assert seconds[1] > seconds[0] and seconds[2] > seconds[0]       # the models cost more than reading
