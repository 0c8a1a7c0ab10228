"""utils/parse_options.sh, sourced by a tiny run.sh-like caller under `set -euo pipefail`."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

CALLER = """#!/usr/bin/env bash
set -euo pipefail
stage=1
stop_stage=100
mini=false
tag_args=
help_message="Usage: run.sh [options]  (help text for the test)"
. {parse_options}
printf 'stage=%s\\nstop_stage=%s\\nmini=%s\\ntag_args=%s\\n' "$stage" "$stop_stage" "$mini" "$tag_args"
printf 'positional=%s\\n' "$@"
"""


@pytest.fixture
def run_sh(tmp_path: Path):
    """Call the caller script with the given arguments (cwd = tmp_path)."""
    script = tmp_path / "run.sh"
    script.write_text(CALLER.format(parse_options=REPO_ROOT / "utils" / "parse_options.sh"))
    script.chmod(0o755)

    def call(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(script), *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=30)
    return call


def values(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    out = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        out.setdefault(key, []).append(value)
    return {k: v[0] if k != "positional" else v for k, v in out.items()}


@pytest.mark.parametrize("stop_opt", ["--stop-stage", "--stop_stage"])
def test_dash_and_underscore_set_the_same_variable(run_sh, stop_opt):
    got = values(run_sh("--stage", "3", stop_opt, "5"))
    assert (got["stage"], got["stop_stage"]) == ("3", "5")


def test_unknown_option_is_an_error(run_sh):
    result = run_sh("--stage", "2", "--no-such-thing", "1")
    assert result.returncode != 0
    assert "invalid option --no-such-thing" in result.stderr


def test_boolean_variables_only_take_true_or_false(run_sh):
    assert values(run_sh("--mini", "true"))["mini"] == "true"
    result = run_sh("--mini", "yes")
    assert result.returncode != 0 and "true or false" in result.stderr


def test_help_prints_help_message_and_exits_0(run_sh):
    result = run_sh("--stage", "1", "--stop-stage", "1", "--help")
    assert result.returncode == 0
    assert "help text for the test" in result.stdout
    assert "stage=" not in result.stdout   # the caller did not go on
    assert "help text for the test" in run_sh("-h").stdout


def test_value_with_spaces_and_shell_characters_is_kept_verbatim(run_sh, tmp_path):
    value = "--max_epoch 10 --lr 'a b' \"c\" $(touch pwned) ; `touch pwned2`"
    assert values(run_sh("--tag-args", value))["tag_args"] == value
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


def test_parsing_stops_at_first_positional(run_sh):
    got = values(run_sh("--stage", "2", "data/x", "--stop-stage", "5"))
    assert got["stage"] == "2" and got["stop_stage"] == "100"
    assert got["positional"] == ["data/x", "--stop-stage", "5"]


def test_double_dash_ends_options(run_sh):
    got = values(run_sh("--stage", "2", "--", "--stage"))
    assert got["stage"] == "2" and got["positional"] == ["--stage"]


def test_config_file_is_read_first_and_command_line_wins(run_sh, tmp_path):
    (tmp_path / "my.conf").write_text("stage=4\nstop_stage=7\n")
    got = values(run_sh("--stage", "5", "--config", "my.conf"))
    assert (got["stage"], got["stop_stage"]) == ("5", "7")
    result = run_sh("--config", "missing.conf")
    assert result.returncode != 0 and "missing.conf" in result.stderr


def test_config_file_values_are_literal(run_sh, tmp_path):
    """Bare words, '...' and "..." values, comments, CRLF; nothing in the file is expanded or run."""
    (tmp_path / "my.conf").write_text("# options\n\n  stage=4   # four\r\n"
                                      "tag_args=\"--lr 'a b' $(touch pwned) `touch pwned2`\" # c\n"
                                      "stop_stage='$HOME #x'\nmini=true\n")
    got = values(run_sh("--config", "my.conf"))
    assert got == {"stage": "4", "stop_stage": "$HOME #x", "mini": "true",
                   "tag_args": "--lr 'a b' $(touch pwned) `touch pwned2`", "positional": [""]}
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


@pytest.mark.parametrize("line, message", [
    ("tag_args=$(touch pwned)", "line 2: cannot read 'tag_args=$(touch pwned)'"),
    ("stage=1 2", "line 2: cannot read 'stage=1 2'"),
    ("stage=\"4\"x", "cannot read"),
    ("mini=yes", "line 2: mini takes true or false, got 'yes'"),
    ("no_such=1", "line 2: 'no_such' is not an option"),
    ("stage: 4", "is not an options file (line 2: 'stage: 4')"),
])
def test_config_file_bad_lines_are_one_error(run_sh, tmp_path, line, message):
    (tmp_path / "bad.conf").write_text(f"stage=3\n{line}\n")
    result = run_sh("--config", "bad.conf")
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "--config bad.conf" in result.stderr and message in result.stderr
    assert not (tmp_path / "pwned").exists()


def test_caller_variable_named_config_is_an_ordinary_option(tmp_path):
    script = tmp_path / "train.sh"
    script.write_text(f"set -euo pipefail\nconfig=\n. {REPO_ROOT / 'utils' / 'parse_options.sh'}\n"
                      'echo "config=$config"\n')
    result = subprocess.run(["bash", str(script), "--config", "conf/x.yaml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "config=conf/x.yaml"


@pytest.mark.parametrize("args, message", [
    (["--stage"], "needs a value"),
    (["--stage=3"], "--stage=3"),
])
def test_malformed_options_are_errors(run_sh, args, message):
    result = run_sh(*args)
    assert result.returncode != 0 and message in result.stderr
