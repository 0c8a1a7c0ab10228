"""espnet2_ext.validate: values read from files and flags."""
import argparse
import math
import re

import pytest

from espnet2_ext import validate
from espnet2_ext.errors import S5InputError


@pytest.mark.parametrize("value, problem", [
    (math.nan, "is not a finite number"), (math.inf, "is not a finite number"), ("0.5", "is not a number"),
    (None, "is not a number"), (True, "is not a number"), (-0.1, "is outside [0.0, 1.0]"),
    (1.5, "is outside [0.0, 1.0]")])
def test_probability_refuses(value, problem):
    with pytest.raises(S5InputError, match=r"^f\.json: \[0\]\.probability = .* " + problem.replace("[", r"\[")):
        validate.probability(value, "f.json", "[0].probability")


def test_number_ranges_and_integers():
    assert validate.probability(1, "f", "k") == 1.0
    assert validate.number(3, "f", "k", lo=1, integer=True) == 3
    with pytest.raises(S5InputError, match="is not an integer"):
        validate.number(3.0, "f", "k", integer=True)
    with pytest.raises(S5InputError, match=r"is outside \(0, inf\]"):
        validate.number(0, "f", "k", lo=0, lo_open=True)
    with pytest.raises(S5InputError, match=r"is outside \[0, 5\)"):
        validate.number(5, "f", "k", lo=0, hi=5, hi_open=True)


def test_types_and_keys():
    assert validate.keys({"a": 1, "b": 2}, ("a",), "f", "top") == {"a": 1, "b": 2}
    with pytest.raises(S5InputError, match=r"f: top lacks the key\(s\) \['b'\]; fix it"):
        validate.keys({"a": 1}, ("a", "b"), "f", "top", "fix it")
    with pytest.raises(S5InputError, match="is not a mapping"):
        validate.keys([1], ("a",), "f", "top")
    with pytest.raises(S5InputError, match="is not a string"):
        validate.typed(True, str, "f", "k")
    with pytest.raises(S5InputError, match="is not bool"):
        validate.typed(1, bool, "f", "k")


@pytest.mark.parametrize("parse, text", [
    (validate.positive_int, "0"), (validate.positive_int, "-3"), (validate.positive_int, "1.5"),
    (validate.nonnegative_int, "-1"), (validate.channel_index, "4"), (validate.positive_float, "nan"),
    (validate.positive_float, "0"), (validate.nonnegative_float, "inf")])
def test_flag_types_refuse(parse, text):
    with pytest.raises(argparse.ArgumentTypeError, match=f"'{text}' is not"):
        parse(text)


def test_flag_types_accept():
    assert validate.positive_int("4") == 4 and validate.channel_index("3") == 3
    assert validate.positive_float("2.5") == 2.5 and validate.nonnegative_float("0") == 0.0


def test_cli_flag_out_of_range_is_a_usage_error(capsys):
    from espnet2_ext.bin import s5_inference

    with pytest.raises(SystemExit) as e:
        s5_inference.get_parser().parse_args(["--soundscape_dir", "a", "--output_dir", "b", "--separator_ckpt", "c",
                                             "--batch_size", "0"])
    assert e.value.code == 2
    assert "argument --batch_size: '0' is not a positive integer" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["resunetk", "4c_max_epoch10", "valid.loss.ave_2best.pth", "lr3e-4,b=8+x", "0"])
def test_tag_accepts_plain_names(value):
    assert validate.tag(value, "run.sh", "--sep_tag") == value


@pytest.mark.parametrize("value", ["", "..", ".hidden", "../x", "a/b", "a b", "ok\n", "a..b", "-x", "a;b", "$(x)",
                                   "_x", None])
def test_tag_refuses_anything_else(value):
    with pytest.raises(S5InputError, match=r"^run\.sh: --sep_tag = .* is not a safe name"):
        validate.tag(value, "run.sh", "--sep_tag")


@pytest.mark.parametrize("args, suffix", [
    ("", ""), ("--max_epoch 300", "_max_epoch300"), ("--optim_conf lr=3.0e-4", "_optim_conflr3.0e-4"),
    ("--max_epoch 1; touch MARKER", "_max_epoch1touchMARKER"), ("--init_param ../a b/x.pth", "_init_param.abx.pth"),
    ("$(touch M)\n`x`", "touchMx")])
def test_args_suffix_is_espnets_rule_in_tag_characters(args, suffix):
    assert validate.args_suffix(args) == suffix


def test_split_args_is_a_shell_split_that_runs_nothing():
    assert validate.split_args("--a 1 --b 'x y' \"$(z)\" `w` 1; ''", "run.sh", "--sep_args") == [
        "--a", "1", "--b", "x y", "$(z)", "`w`", "1;", ""]
    for text, problem in [("--a 'x", "cannot be split into words"), ("--a 'x\ny'", "line break"),
                          ("--a 1 ; b", "holds ';', a shell operator"), ("x | y", "'|'"), ("x 2>&1", "'2>&1'"),
                          ("x >> f", "'>>'")]:
        with pytest.raises(S5InputError, match=f"^run\\.sh: --sep_args = .* {re.escape(problem)}"):
            validate.split_args(text, "run.sh", "--sep_args")
