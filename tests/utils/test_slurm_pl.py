"""utils/slurm.pl: option mapping and the job script without Slurm; real jobs on a local cluster."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from slurm_cluster import slurm_cluster  # noqa: F401  (pytest fixture)

REPO_ROOT = Path(__file__).resolve().parents[2]
SLURM_PL = str(REPO_ROOT / "utils" / "slurm.pl")
RECIPE_CONF = REPO_ROOT / "egs2" / "dcase26t4" / "s5" / "conf" / "slurm.conf"

TEST_CONF = """# option map for the tests
command sbatch --export=PATH
option name=* --job-name $0
option mem=* --mem-per-cpu $0
option mem=0
option num_threads=* --cpus-per-task $0
option num_nodes=1
default gpu=0
option gpu=0 -p cpu
option gpu=* -p gpu --gres=gpu:$0   # trailing comment
option time=* --time $0
"""


def slurm_pl(cwd: Path, *args: str, dry_run: bool = False, timeout: float = 120,
             **env: str) -> subprocess.CompletedProcess:
    run_env = {**os.environ, **env}
    if dry_run:
        run_env["SLURM_PL_DRY_RUN"] = "1"
    return subprocess.run([SLURM_PL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=run_env)


def sbatch_words(cwd: Path, *args: str) -> list:
    result = slurm_pl(cwd, *args, dry_run=True)
    assert result.returncode == 0, result.stderr
    return shlex.split(result.stdout)


def output_lines(log: Path) -> list:
    return [line for line in log.read_text().splitlines() if not line.startswith("# ")]


@pytest.fixture
def conf_dir(tmp_path: Path) -> Path:
    """A submit directory holding conf/slurm.conf (TEST_CONF)."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "slurm.conf").write_text(TEST_CONF)
    return tmp_path


# ---------------- without Slurm (SLURM_PL_DRY_RUN=1) ----------------

def test_generic_options_map_through_the_config(conf_dir):
    words = sbatch_words(conf_dir, "--gpu", "2", "--mem", "4G", "--num-threads", "3",
                         "--time", "1:00:00", "--name", "my job", "--max_jobs_run", "2",
                         "JOB=1:3", "log/x.JOB.log", "echo", "JOB")
    assert words[:2] == ["sbatch", "--export=PATH"]
    flags = " ".join(words)
    for expected in ["-p gpu --gres=gpu:2", "--mem-per-cpu 4G", "--cpus-per-task 3",
                     "--time 1:00:00", "--array=1-3%2", "--output=log/q/x.%a.log", "--parsable"]:
        assert expected in flags
    assert words[words.index("--job-name") + 1] == "my job"
    assert words[-1] == "log/q/x.sh" and (conf_dir / "log" / "q" / "x.sh").is_file()
    assert "-p cpu" not in flags


def test_defaults_and_exact_values(conf_dir):
    words = sbatch_words(conf_dir, "--mem", "0", "--num_nodes", "1", "log/y.log", "true")
    assert words == ["sbatch", "--export=PATH", "-p", "cpu", "--open-mode=append",
                     "--output=log/q/y.log", "--parsable", "log/q/y.sh"]   # default gpu=0


@pytest.mark.parametrize("args, named", [
    (["--foo", "3"], "--foo 3"),                    # option not in the config
    (["--num_nodes", "2"], "--num_nodes 2"),        # value not in the config
])
def test_option_not_described_by_config_is_fatal(conf_dir, args, named):
    result = slurm_pl(conf_dir, *args, "log/z.log", "true", dry_run=True)
    assert result.returncode != 0
    assert named in result.stderr and "conf/slurm.conf" in result.stderr


def test_config_errors(tmp_path):
    missing = slurm_pl(tmp_path, "log/z.log", "true", dry_run=True)
    assert missing.returncode != 0 and "conf/slurm.conf" in missing.stderr
    (tmp_path / "bad.conf").write_text("command sbatch\noptoin gpu=* --gres=gpu:$0\n")
    bad = slurm_pl(tmp_path, "--config", "bad.conf", "log/z.log", "true", dry_run=True)
    assert bad.returncode != 0 and "bad.conf line 2" in bad.stderr


def test_recipe_config_accepts_the_generic_options(tmp_path):
    words = sbatch_words(tmp_path, "--config", str(RECIPE_CONF), "--gpu", "0", "--mem", "1G",
                         "--num_threads", "1", "--time", "2:00:00", "--name", "exp/x",
                         "--num_nodes", "1", "log/r.log", "true")
    assert words[0] == "sbatch"
    gpu = sbatch_words(tmp_path, "--config", str(RECIPE_CONF), "--gpu", "2", "log/r.log", "true")
    assert "--gres=gpu:2" in gpu


def test_job_script_runs_task_logs_status_and_sources_path_sh(conf_dir):
    (conf_dir / "path.sh").write_text("export FROM_PATH_SH=yes\n")
    sbatch_words(conf_dir, "--num_threads", "2", "JOB=1:3", "log/x.JOB.log",
                 "printenv", "FROM_PATH_SH", ";", "echo", "task JOB", ";", "test", "JOB", "-ne", "3")
    script = conf_dir / "log" / "q" / "x.sh"
    env = {"PATH": os.environ["PATH"]}
    for task, code in [("2", 0), ("3", 1)]:
        done = subprocess.run(["bash", str(script)], cwd="/", env={**env, "SLURM_ARRAY_TASK_ID": task},
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == code, done.stderr
        assert (conf_dir / "log" / "q" / f"x.{task}.status").read_text().strip() == str(code)
    lines = (conf_dir / "log" / "x.2.log").read_text().splitlines()
    assert lines[0] == "# printenv FROM_PATH_SH ; echo 'task 2' ; test 2 -ne 3"
    assert lines[1].startswith("# Started at ") and lines[2].startswith("# Running on ")
    assert lines[3:5] == ["yes", "task 2"]
    assert re.fullmatch(r"# Accounting: time=\d+ threads=2", lines[5])
    assert lines[6].startswith("# Ended (code 0) at ")


def test_cluster_bring_up_is_refused_without_root(monkeypatch):
    import slurm_cluster as sc
    monkeypatch.setattr(sc, "_shared", None)        # as if no cluster were up yet
    monkeypatch.setattr(sc.os, "geteuid", lambda: 1000)
    monkeypatch.delenv("DCASE26T4_NO_SLURM", raising=False)
    with pytest.raises(sc.SlurmUnavailable, match="root"):
        with sc.local_slurm():
            pass


# ---------------- a real local Slurm cluster ----------------

@pytest.fixture
def submit_dir(tmp_path: Path, slurm_cluster) -> Path:  # noqa: F811
    """A submit directory with the recipe's conf/slurm.conf, on a running cluster."""
    (tmp_path / "conf").mkdir()
    shutil.copy(RECIPE_CONF, tmp_path / "conf" / "slurm.conf")
    return tmp_path


def test_slurm_array_job_writes_substituted_logs(submit_dir):
    result = slurm_pl(submit_dir, "JOB=1:2", "log/x.JOB.log", "echo", "JOB")
    assert result.returncode == 0, result.stderr
    for i in (1, 2):
        log = submit_dir / "log" / f"x.{i}.log"
        assert output_lines(log) == [str(i)]
        assert log.read_text().splitlines()[-1].startswith("# Ended (code 0)")


def test_slurm_failing_task_gives_nonzero_exit_and_its_log(submit_dir):
    result = slurm_pl(submit_dir, "--gpu", "0", "--mem", "1G", "--num_threads", "1",
                      "JOB=1:3", "log/f.JOB.log", "test", "JOB", "-ne", "2")
    assert result.returncode != 0
    assert "1 / 3 failed" in result.stderr and "log/f.2.log" in result.stderr
    assert "log/f.1.log" not in result.stderr


def test_slurm_job_gets_path_sh_environment(submit_dir):
    (submit_dir / "path.sh").write_text("export FROM_PATH_SH=yes\n")
    result = slurm_pl(submit_dir, "log/env.log", "printenv", "FROM_PATH_SH")
    assert result.returncode == 0, result.stderr
    assert output_lines(submit_dir / "log" / "env.log") == ["yes"]


KILL_JOB_SCRIPT = """#!/bin/bash
# SIGKILL the oldest ancestor running Slurm's copy of the job script (.../slurm_script;
# its subshells show the same command line)
p=$PPID target=
while [ "$p" -gt 1 ]; do
    tr '\\0' ' ' < /proc/$p/cmdline | grep -q slurm_script && target=$p
    p=$(awk '{print $4}' /proc/$p/stat)
done
[ -n "$target" ] || { echo "job script not found among the ancestors" >&2; exit 3; }
kill -9 "$target"
"""


def test_slurm_task_killed_without_status_is_a_failure(submit_dir):
    killer = submit_dir / "killer.sh"   # SIGKILL the job script: no exit status is written
    killer.write_text(KILL_JOB_SCRIPT)
    killer.chmod(0o755)
    start = time.monotonic()
    result = slurm_pl(submit_dir, "log/k.log", "./killer.sh", timeout=60,
                      SLURM_PL_SQUEUE_INTERVAL="1", SLURM_PL_SYNC_GRACE="1")
    assert result.returncode != 0
    assert "no exit status" in result.stderr and "log/k.log" in result.stderr
    assert time.monotonic() - start < 30


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.2)


def test_sigterm_cancels_the_job(submit_dir):
    name = f"slurm_pl_sigterm_{os.getpid()}"
    log = submit_dir / "log" / "s.log"
    proc = subprocess.Popen([SLURM_PL, "--name", name, str(log), "sleep", "120"], cwd=submit_dir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: log.is_file() and "# Started" in log.read_text(), 60, "the job to start")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and "cancelling job" in err

    def job_gone() -> bool:
        listed = subprocess.run(["squeue", "-h", "-n", name, "-t", "PD,R,CG", "-o", "%i"],
                                capture_output=True, text=True, timeout=30)
        return listed.returncode == 0 and listed.stdout.strip() == ""
    wait_for(job_gone, 30, f"job {name} to leave the queue")
