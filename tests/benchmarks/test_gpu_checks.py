"""benchmarks/gpu_checks.sh, the one script a GPU session runs: in ``--smoke`` mode (CPU, tiny
sizes, the CUDA tests only collected) every step runs with the flags the GPU run uses, so a typo
cannot waste a GPU session; and every CUDA-only test of the suite is among the tests it runs."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu_checks.sh"


def script_env() -> dict:
    """The script's environment: this python, this checkout; not this run's xdist worker id (the
    script's own pytest is a run of its own)."""
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=str(REPO))
    for name in ("OFFICIAL_DIR", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT"):
        env.pop(name, None)
    return env


STEPS = ("cuda_tests", "synth_sep_resunetk", "synth_tag_head_4c", "inference_rtf", "train_throughput")


def cuda_only_tests() -> list:
    """(file, test name or None for the whole module) of every test skipped without CUDA."""
    found = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        text = path.read_text()
        rel = path.relative_to(REPO).as_posix()
        if re.search(r"^pytestmark = pytest\.mark\.skipif\(not torch\.cuda\.is_available\(\)", text, re.M):
            found.append((rel, None))
        for name in re.findall(r"^@pytest\.mark\.skipif\(not torch\.cuda\.is_available\(\).*\n(?:@.*\n)*def (\w+)",
                               text, re.M):
            found.append((rel, name))
    return found


def test_every_cuda_only_test_is_run_by_the_script():
    script = SCRIPT.read_text()
    found = cuda_only_tests()
    assert len(found) >= 5, found
    for rel, name in found:
        if name is None:
            assert rel in script, rel
        else:
            assert f"{rel}::{name}" in script or re.search(rf"{re.escape(rel)}\s", script), (rel, name)


def test_smoke_mode_runs_every_step_on_the_cpu(tmp_path):
    env = script_env()
    proc = subprocess.run(["bash", str(SCRIPT), "--smoke", str(tmp_path)], capture_output=True, text=True,
                          env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "FAILED" not in proc.stdout
    assert re.search(r"^gpu_checks --smoke: \d+ s in all$", proc.stdout, re.M), proc.stdout[-500:]
    for step in STEPS:
        assert f"== {step}: " in proc.stdout, step
        assert (tmp_path / f"{step}.log").stat().st_size > 0, step
    assert re.search(r"^\d+ tests collected", (tmp_path / "cuda_tests.log").read_text(), re.M)
    assert "ours bf16" in (tmp_path / "inference_rtf.log").read_text()
    rows = json.loads((tmp_path / "train_throughput.json").read_text())["rows"]
    assert {(r["row"], r["status"]) for r in rows} == {("fp32", "ok"), ("device", "ok")}


def test_only_runs_the_named_steps_and_bad_options_are_one_error_line(tmp_path):
    env = script_env()
    proc = subprocess.run(["bash", str(SCRIPT), "--smoke", "--only", "cuda_tests", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "== cuda_tests: " in proc.stdout and "== inference_rtf" not in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cuda_tests.log"]
    for args, expected in ((["--only", "synth,render"], "ERROR: --only: unknown step 'render'"),
                           (["--fast"], "ERROR: unknown option --fast")):
        proc = subprocess.run(["bash", str(SCRIPT), *args, str(tmp_path / "x")], capture_output=True, text=True,
                              env=env, timeout=60)
        assert proc.returncode == 2 and proc.stderr.startswith(expected) and proc.stdout == "", proc.stderr
        assert not (tmp_path / "x").exists()
