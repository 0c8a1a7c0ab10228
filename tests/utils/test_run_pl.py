"""utils/run.pl: local job arrays, logs, exit codes and the parallelism bound."""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_PL = str(REPO_ROOT / "utils" / "run.pl")


def run_pl(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}   # as path.sh sets it; must not limit run.pl
    return subprocess.run([RUN_PL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def output_lines(log: Path) -> list:
    """The command's own output: the log without run.pl's '# ...' header and footer."""
    return [line for line in log.read_text().splitlines() if not line.startswith("# ")]


def test_job_array_substitutes_job_in_log_name_and_command(tmp_path):
    result = run_pl(tmp_path, "JOB=1:3", "log/x.JOB.log", "echo", "JOB")
    assert result.returncode == 0, result.stderr
    for i in (1, 2, 3):
        assert output_lines(tmp_path / "log" / f"x.{i}.log") == [str(i)]


def test_other_variable_name_and_single_job(tmp_path):
    assert run_pl(tmp_path, "TASK=2:3", "a/b/t.TASK.log", "echo", "TASK", "JOB").returncode == 0
    assert output_lines(tmp_path / "a" / "b" / "t.3.log") == ["3 JOB"]
    assert not (tmp_path / "a" / "b" / "t.1.log").exists()
    assert run_pl(tmp_path, "single.log", "echo", "JOB").returncode == 0
    assert output_lines(tmp_path / "single.log") == ["JOB"]


def test_log_header_and_footer(tmp_path):
    result = run_pl(tmp_path, "--num_threads", "3", "log/h.log", "echo", "a b", "c")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "log" / "h.log").read_text().splitlines()
    assert lines[0] == "# echo 'a b' c"
    assert lines[1].startswith("# Started at ")
    assert lines[2] == "a b c"
    assert re.fullmatch(r"# Accounting: time=\d+ threads=3", lines[3])
    assert re.fullmatch(r"# Ended \(code 0\) at .+", lines[4])


def test_quoting_keeps_special_words_and_passes_escaped_operators(tmp_path):
    result = run_pl(tmp_path, "q.log", "printf", "%s|", "it's", "", "x  y", "$HOME", "*",
                    "|", "tr", "a-z", "A-Z", ">", "out.txt")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.txt").read_text() == "IT'S||X  Y|$HOME|*|"


def test_failed_job_gives_nonzero_exit_and_names_its_log(tmp_path):
    result = run_pl(tmp_path, "JOB=1:3", "log/f.JOB.log", "test", "JOB", "-ne", "2")
    assert result.returncode != 0
    assert "1 / 3 failed" in result.stderr
    assert "log/f.2.log" in result.stderr and "log/f.1.log" not in result.stderr
    assert (tmp_path / "log" / "f.2.log").read_text().splitlines()[-1].startswith("# Ended (code 1)")


def test_generic_options_are_accepted_and_unknown_ones_rejected(tmp_path):
    ok = run_pl(tmp_path, "--gpu", "0", "--mem", "4G", "--num-threads", "1", "--time", "1:00:00",
                "--config", "conf/slurm.conf", "--name", "x", "--max_jobs_run", "2", "JOB=1:2",
                "--num_nodes", "1", "g.JOB.log", "true")
    assert ok.returncode == 0, ok.stderr
    bad = run_pl(tmp_path, "--bogus", "1", "g.log", "true")
    assert bad.returncode != 0 and "unknown option --bogus" in bad.stderr
    shared = run_pl(tmp_path, "JOB=1:2", "one.log", "true")
    assert shared.returncode != 0 and "one.log" in shared.stderr


def max_concurrency(tmp_path: Path, njobs: int, *options: str) -> int:
    """Run njobs tasks that each hold a marker file for 0.6 s; return the most held at once."""
    marks = tmp_path / "marks"
    marks.mkdir()
    probe = (f"touch {marks}/JOB; ls {marks} | wc -l > {tmp_path}/count.JOB; "
             f"sleep 0.6; rm {marks}/JOB")
    result = run_pl(tmp_path, *options, f"JOB=1:{njobs}", "log/p.JOB.log", "bash", "-c", probe)
    assert result.returncode == 0, result.stderr
    return max(int((tmp_path / f"count.{i}").read_text()) for i in range(1, njobs + 1))


@pytest.mark.parametrize("limit", ["1", "2"])
def test_max_jobs_run_bounds_parallelism(tmp_path, limit):
    start = time.monotonic()
    assert max_concurrency(tmp_path, 4, "--max-jobs-run", limit) == int(limit)
    assert time.monotonic() - start >= 0.6 * 4 / int(limit) - 0.05


def test_default_parallelism_is_the_cpu_count(tmp_path):
    ncpu = len(os.sched_getaffinity(0))
    assert max_concurrency(tmp_path, ncpu + 1) == ncpu
