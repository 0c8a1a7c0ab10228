"""Security catalogue: option values never reach a shell (see reliability_cases.SECURITY_CASES).

Every attack runs in a copy of the recipe under ``tmp_path`` (the work dir of every process it
starts), with payloads that would create a ``MARKER`` file. Checked each time: the outcome (one
error line and a non-zero exit, or the job done with the value taken literally), no marker anywhere
under ``tmp_path``, and nothing created outside the recipe's ``exp/`` folder. The attacks that reach
a trainer stop at its argument parser: nothing trains.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import List, Sequence

import pytest

from reliability_cases import covers
from reliability_tools import REPO, env, recipe_copy, run_sh

RUN_PL = REPO / "utils" / "run.pl"
SLURM_PL = REPO / "utils" / "slurm.pl"
NAME = "a b;touch MARKER"                                     # a job name with a space and ";"
LOG = "exp/l og;touch MARKER/x.log"                           # a log path with a space and ";"
#: a command whose words must stay text; the format ends with a real newline, which must not end the
#: command line either (run.pl/slurm.pl took "word<newline>" for a plain word: Perl's "$" matches before it)
WORDS = ["printf", "%s\n", "$(touch MARKER)", "`touch MARKER`"]


@pytest.fixture
def recipe(tmp_path) -> Path:
    """A copy of the recipe with a (fake) stage-3 valid dir, enough for local/train.sh to start a trainer."""
    recipe = recipe_copy(tmp_path)
    (recipe / "data" / "valid").mkdir(parents=True)
    (recipe / "data" / "valid" / "wav.scp").write_text("")
    return recipe


def tree(root: Path, exp: Path) -> List[str]:
    """Every file and folder under ``root`` (links not followed) except what is inside ``exp``."""
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if here / d != exp]
        found += [(here / name).relative_to(root).as_posix() for name in dirs + files]
    return sorted(found)


def markers(root: Path) -> List[str]:
    """Marker files a payload would have created (anywhere under ``root``, or in the repository)."""
    found = [str(Path(folder) / name) for folder, _, files in os.walk(root) for name in files
             if name.startswith("MARKER")]
    return found + [str(p) for p in (REPO / "MARKER", REPO / "egs2" / "dcase26t4" / "s5" / "MARKER") if p.exists()]


def error_lines(res: subprocess.CompletedProcess) -> List[str]:
    return [line for line in (res.stdout + res.stderr).splitlines() if re.search(r"\b(ERROR|Error):", line)]


def refused(res: subprocess.CompletedProcess, *needles: str) -> None:
    """A non-zero exit with exactly one error line, holding ``needles``."""
    lines = error_lines(res)
    assert res.returncode != 0, res.stdout + res.stderr
    assert len(lines) == 1, res.stdout + res.stderr
    assert all(n in lines[0] for n in needles), (needles, lines[0])


def attack_run_sh(recipe: Path, args: Sequence[str], *needles: str,
                  timeout: float = 120) -> subprocess.CompletedProcess:
    """run.sh ``args`` must be refused (one error line with ``needles``), run no payload and create
    nothing outside exp/."""
    root, exp = recipe.parents[2], recipe / "exp"
    before = tree(root, exp)
    res = run_sh(recipe, *args, timeout=timeout)
    assert not markers(root), res.stdout + res.stderr
    assert tree(root, exp) == before
    refused(res, *needles)
    return res


# ================================================================== extra trainer arguments
@covers("sep_args_semicolon")
def test_sep_args_semicolon(recipe):
    attack_run_sh(recipe, ["--mini", "true", "--stage", "6", "--stop-stage", "6",
                           "--sep_args", "--max_epoch 1; touch MARKER"],
                  "ERROR: s5_sep_train", "argument --max_epoch: invalid int value: '1;'", timeout=300)
    log = (recipe / "exp" / "sep_resunetk_max_epoch1touchMARKER" / "train.log").read_text()
    assert "--max_epoch '1;' touch MARKER" in log        # run.pl's "# <command>" line: three plain words


@covers("sep_args_bare_operator")
def test_sep_args_bare_operator(recipe):
    attack_run_sh(recipe, ["--mini", "true", "--stage", "6", "--stop-stage", "6",
                           "--sep_args", "--max_epoch 1 ; touch MARKER ;"],
                  "ERROR: run.sh: --sep_args", "holds ';', a shell operator")
    assert not (recipe / "exp").exists()


@covers("tag_args_command_substitution")
def test_tag_args_command_substitution(recipe):
    (recipe / "local" / "verify_layout.sh").write_text("#!/usr/bin/env bash\nexit 0\n")   # no corpus here
    attack_run_sh(recipe, ["--mini", "true", "--stage", "4", "--stop-stage", "4", "--tagger_variants", "1c",
                           "--tag_args", "$(touch MARKER) `touch MARKER2`"],
                  "ERROR: s5_tag_train", "unrecognized arguments: $(touch MARKER) `touch MARKER2`", timeout=300)


# ================================================================== --config options file
@covers("config_file_command_substitution")
def test_config_file_command_substitution(recipe):
    (recipe / "bare.conf").write_text("# an options file\nsep_args=$(touch MARKER)\n")
    attack_run_sh(recipe, ["--config", "bare.conf"],
                  "ERROR: ./run.sh: --config bare.conf, line 2: cannot read 'sep_args=$(touch MARKER)'")
    # quoted, the value is read literally: the words "$(touch" "MARKER)" name the separator experiment
    (recipe / "quoted.conf").write_text('sep_args="$(touch MARKER)"  # literal\n')
    res = attack_run_sh(recipe, ["--config", "quoted.conf", "--stage", "7", "--stop-stage", "7"],
                        "Error: exp/tag_blocks_", "not found")
    assert "exp/sep_resunetktouchMARKER/valid.loss.best.pth" in res.stdout


# ================================================================== tags: one plain folder name each
@covers("sep_tag_traversal")
def test_sep_tag_traversal(recipe):
    attack_run_sh(recipe, ["--stage", "6", "--stop-stage", "7", "--sep_tag", "../../escape"],
                  "ERROR: run.sh: --sep_tag = '../../escape' is not a safe name")


@pytest.mark.parametrize("args", [
    ["--inference_tag", "../x"],
    ["--inference_model", "../../x.pth"],
    ["--test_sets", "test ../a"],
], ids=["inference_tag", "inference_model", "test_sets"])
@covers("inference_tag_traversal")
def test_inference_tag_traversal(recipe, args):
    attack_run_sh(recipe, ["--stage", "7", "--stop-stage", "8", *args],
                  f"ERROR: run.sh: {args[0]} = '{args[1].split()[-1]}' is not a safe name")


@pytest.mark.parametrize("args, option", [
    (["--tagger_variants", "1c", "--tag_tag", "a b"], "--tag_tag = 'a b'"),
    (["--sep_tag", "ok\n"], "--sep_tag = 'ok\\n'"),
    (["--sep_config", "conf/my sep.yaml"], "--sep_tag = 'my sep'"),
    (["--tagger_ckpt", "my model.ckpt", "--separator_ckpt", "sep.pth"], "--tagger_ckpt (file name) = 'my model'"),
], ids=["space", "newline", "config_name", "checkpoint_name"])
@covers("tag_space_newline")
def test_tag_space_newline(recipe, args, option):
    attack_run_sh(recipe, ["--stage", "6", "--stop-stage", "7", *args], f"ERROR: run.sh: {option} is not a safe name")


# ================================================================== job names and log paths
@covers("launcher_job_name_space_semicolon")
def test_launcher_job_name_space_semicolon(recipe):
    expdir = "exp/a b;touch MARKER"
    attack_run_sh(recipe, ["--mini", "true", "--stage", "6", "--stop-stage", "6", "--expdir", expdir,
                           "--sep_args", "--max_epoch x"],
                  "ERROR: s5_sep_train", "invalid int value: 'x'", timeout=300)
    assert "invalid int value: 'x'" in (recipe / expdir / "sep_resunetk_max_epochx" / "train.log").read_text()


def literal_job_log(log: Path) -> None:
    """The log of the WORDS job: the two payloads printed as text, exit code 0."""
    text = log.read_text()
    assert "\n$(touch MARKER)\n`touch MARKER`\n" in text and "# Ended (code 0)" in text, text


@covers("run_pl_name_log_path")
def test_run_pl_name_log_path(tmp_path):
    before = tree(tmp_path, tmp_path / "exp")
    res = subprocess.run([str(RUN_PL), "--name", NAME, LOG, *WORDS], cwd=tmp_path, capture_output=True,
                         text=True, env=env(), timeout=60)
    assert res.returncode == 0, res.stderr
    literal_job_log(tmp_path / LOG)
    assert not markers(tmp_path) and tree(tmp_path, tmp_path / "exp") == before


@covers("slurm_pl_name_log_path")
def test_slurm_pl_name_log_path(tmp_path):
    conf = REPO / "egs2" / "dcase26t4" / "s5" / "conf" / "slurm.conf"
    dry = {**env(), "SLURM_PL_DRY_RUN": "1"}
    before = tree(tmp_path, tmp_path / "exp")
    res = subprocess.run([str(SLURM_PL), "--config", str(conf), "--name", NAME, LOG, *WORDS], cwd=tmp_path,
                         capture_output=True, text=True, env=dry, timeout=60)
    assert res.returncode == 0, res.stderr
    assert f"--job-name '{NAME}'" in res.stdout                      # one argument of sbatch
    script = tmp_path / "exp" / "l og;touch MARKER" / "q" / "x.sh"
    job = subprocess.run(["bash", str(script)], cwd=tmp_path, capture_output=True, text=True, env=env(), timeout=60)
    assert job.returncode == 0, job.stderr                          # what Slurm would run
    literal_job_log(tmp_path / LOG)

    bad = subprocess.run([str(SLURM_PL), "--config", str(conf), "--num_threads", "1; touch MARKER", "exp/y.log",
                          "true"], cwd=tmp_path, capture_output=True, text=True, env=dry, timeout=60)
    assert bad.returncode != 0
    assert bad.stderr.splitlines() == ["slurm.pl: --num_threads needs a positive integer, got '1; touch MARKER'"]
    assert not (tmp_path / "exp" / "q").exists()
    assert not markers(tmp_path) and tree(tmp_path, tmp_path / "exp") == before
