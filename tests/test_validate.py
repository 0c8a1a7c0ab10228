"""espnet2_ext.validate: values read from files and flags."""
import argparse
import math

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
