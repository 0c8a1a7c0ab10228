"""benchmarks/train_throughput.py, CI-sized on a CPU: what it prints and writes (not how fast)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "train_throughput.py"
TUNING = REPO / "egs2" / "dcase26t4" / "s5" / "conf" / "tuning"


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_rows_table_and_json_of_both_configs(tmp_path):
    out = tmp_path / "rows.json"
    proc = run("--configs", str(TUNING / "tag_head_4c.yaml"), str(TUNING / "sep_resunetk.yaml"), "--mini", "true",
               "--rows", "fp32,amp", "--device", "cpu", "--steps", "1", "--warmup", "0", "--batch_size", "2",
               "--clip_seconds", "2", "--num_workers", "1", "--threads", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    for config in ("tag_head_4c.yaml (tagger)", "sep_resunetk.yaml (separator)"):
        assert config in text
    assert len(re.findall(r"ours fp32, rendering in the loader\s+\d+\.\d+ items/s .* CPU\s+\d+ %", text)) == 2, text
    assert len(re.findall(r"ours bf16 autocast, render_on_device\s+CUDA only", text)) == 2
    assert "| config | row | items/s |" in text
    rows = json.loads(out.read_text())["rows"]
    assert [(r["config"], r["row"], r["status"]) for r in rows] == [
        ("tag_head_4c.yaml", "fp32", "ok"), ("tag_head_4c.yaml", "amp", "CUDA only"),
        ("sep_resunetk.yaml", "fp32", "ok"), ("sep_resunetk.yaml", "amp", "CUDA only")]
    for r in (rows[0], rows[2]):
        assert r["items_per_s"] > 0 and r["median_step_s"] > 0 and r["batch_size"] == 2 and r["steps"] == 1
        assert r["gpu_percent"] is None and r["num_workers"] == 1


def test_bad_flags_are_one_error_line(tmp_path):
    for args, expected in (
            (["--steps", "0"], "ERROR: train_throughput.py: argument --steps: '0' is not a positive integer"),
            (["--rows", "fp32,turbo"], "ERROR: --rows 'fp32,turbo': unknown row(s) turbo"),
            (["--official", str(tmp_path)], f"ERROR: --official {tmp_path} lacks {tmp_path / 'src/train.py'}")):
        proc = run(*args)
        assert proc.returncode == 2, args
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(expected), (args, proc.stderr)


def test_a_failing_row_is_reported_and_the_run_ends_with_one_error_line(tmp_path):
    tree = tmp_path / "official"
    for rel in ("src/train.py", "src/datamodules/datamodule.py", "src/datamodules/dataset.py",
                "src/modules/spatial_audio_synthesizer/room.py",
                "src/modules/spatial_audio_synthesizer/spatial_audio_synthesizer.py",
                "config/label/m2dat_4c.yaml", "config/label/m2dat_1c.yaml",
                "config/separation/resunetk_capisdr.yaml"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text("")
    out = tmp_path / "rows.json"
    proc = run("--configs", str(TUNING / "sep_resunetk.yaml"), "--rows", "official", "--official", str(tree),
               "--official_python", str(tmp_path / "no_python"), "--json", str(out))
    assert proc.returncode == 2
    assert "official (Lightning + SpAudSyn)" in proc.stdout and "FAILED: sep_resunetk.yaml row official" in proc.stdout
    assert proc.stderr.strip().splitlines() == ["ERROR: 1 row(s) failed: sep_resunetk.yaml official (their reasons "
                                                "are in the table above)"]
    assert json.loads(out.read_text())["rows"][0]["status"].startswith("FAILED: ")
