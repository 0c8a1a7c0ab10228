"""Every benchmark script refuses a bad count with one ERROR line, before any work."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.parametrize("script, flag", [("inference_rtf.py", "--repeats"), ("metric_speed.py", "--cases"),
                                          ("synth_throughput.py", "--n"), ("synth_throughput.py", "--profile"),
                                          ("loader_scale.py", "--batches")])
def test_a_zero_count_is_refused(script, flag):
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), flag, "0"], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(BENCHMARKS.parent)), timeout=300)
    assert proc.returncode == 2
    expected = f"ERROR: {script}: argument {flag}: '0' is not a positive integer (see --help)"
    assert proc.stderr.strip().splitlines() == [expected]
    assert "Traceback" not in proc.stderr
