"""Checks of values read from files and flags, with messages naming the file and the key.

One helper per kind of value; every reader of a format calls them where it reads
the value, so a NaN probability, a negative onset or a string where a number
belongs stops with an :class:`S5InputError` (``<where>: <key> = <value> <problem>;
<fix>``) instead of a silently wrong result.
"""
from __future__ import annotations

import argparse
import math
import re
import shlex
from numbers import Integral, Real
from typing import Any, Callable, List, Optional, Tuple, Type, Union

from espnet2_ext.errors import S5InputError

Number = Union[int, float]


def _fail(where: str, key: str, value: Any, problem: str, fix: str) -> S5InputError:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return S5InputError(f"{where}: {key} = {shown} {problem}" + (f"; {fix}" if fix else ""))


def number(value: Any, where: str, key: str, *, lo: Optional[Number] = None, hi: Optional[Number] = None,
           lo_open: bool = False, hi_open: bool = False, integer: bool = False, fix: str = "") -> Number:
    """``value`` as a finite number within [lo, hi] (ends open if asked); bools and strings refused."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, Integral if integer else Real):
        raise _fail(where, key, value, f"is not {kind}", fix)
    if not integer and not math.isfinite(float(value)):
        raise _fail(where, key, value, "is not a finite number", fix)
    too_low = lo is not None and (value <= lo if lo_open else value < lo)
    too_high = hi is not None and (value >= hi if hi_open else value > hi)
    if too_low or too_high:
        span = f"{'(' if lo_open else '['}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}" \
               f"{')' if hi_open else ']'}"
        raise _fail(where, key, value, f"is outside {span}", fix)
    return int(value) if integer else float(value)


def probability(value: Any, where: str, key: str, fix: str = "") -> float:
    """A finite number in [0, 1]."""
    return number(value, where, key, lo=0.0, hi=1.0, fix=fix)


def typed(value: Any, types: Union[Type, Tuple[Type, ...]], where: str, key: str, fix: str = "") -> Any:
    """``value`` if it is an instance of ``types`` (bool is not an int here), else an error."""
    types = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        names = " or ".join({dict: "a mapping", list: "a list", str: "a string"}.get(t, t.__name__)
                            for t in types)
        raise _fail(where, key, value, f"is not {names}", fix)
    return value


def keys(value: Any, required, where: str, key: str, fix: str = "") -> dict:
    """``value`` as a dict holding every key of ``required`` (extra keys are allowed)."""
    typed(value, dict, where, key, fix)
    missing = [k for k in required if k not in value]
    if missing:
        raise S5InputError(f"{where}: {key} lacks the key(s) {missing}" + (f"; {fix}" if fix else ""))
    return value


# ------------------------------------------------------------------------------ argparse types
def _arg_type(name: str, **limits) -> Callable[[str], Number]:
    """An argparse ``type``: the flag's text as a number within ``limits`` (see :func:`number`)."""
    integer = limits.get("integer", False)

    def parse(text: str) -> Number:
        try:
            value = int(text) if integer else float(text)
            return number(value, "flag", "value", **limits)
        except (ValueError, S5InputError) as e:
            raise argparse.ArgumentTypeError(f"{text!r} is not {name}") from e

    parse.__name__ = name
    return parse


positive_int = _arg_type("a positive integer", integer=True, lo=1)
nonnegative_int = _arg_type("an integer >= 0", integer=True, lo=0)
positive_float = _arg_type("a finite number > 0", lo=0, lo_open=True)
channel_index = _arg_type("a channel index in 0..3", integer=True, lo=0, hi=3)
nonnegative_float = _arg_type("a finite number >= 0", lo=0)


# ------------------------------------------------------------------------------ recipe names and arguments
#: Characters of a tag: the name of an experiment or decode folder (run.sh's --tag_tag, --sep_tag,
#: --inference_tag, --inference_model, test set names, model file stems and the tags derived from
#: config names and extra arguments).
TAG_CHARS = "A-Za-z0-9._+=,-"
#: A tag is one plain folder name: a letter or digit first (so never "." or ".."), no "/", no space.
TAG_PATTERN = re.compile(f"[A-Za-z0-9][{TAG_CHARS}]*")
TAG_RULE = "a letter or digit, then letters, digits and . _ + = , - (no '/', no '..', no spaces)"
#: Words that run.pl and slurm.pl pass to bash as shell syntax (Kaldi's escaped \| and \>): control
#: operators made of ; & | ( ), and redirections (< > >> 2> 2>&1 &> ...). A word such as "1;" is not one.
SHELL_OPERATOR = re.compile(r"[;&|()]+|[0-9]*(?:[<>]+|&>+)&?[0-9]*")


def tag(value: Any, where: str, key: str, fix: str = "") -> str:
    """``value`` if it is a tag (:data:`TAG_PATTERN`, the whole string, no ``..``), else an error."""
    if not isinstance(value, str) or not TAG_PATTERN.fullmatch(value) or ".." in value:
        raise _fail(where, key, value, f"is not a safe name: {TAG_RULE}", fix)
    return value


def args_suffix(args: str) -> str:
    """The compact form of extra arguments in a tag, as ESPnet derives ``enh_tag`` (``--`` -> ``_``;
    spaces, ``|``, ``=`` and ``/`` dropped), keeping tag characters only:
    ``"--max_epoch 300"`` -> ``"_max_epoch300"``, ``"--optim_conf lr=3.0e-4"`` -> ``"_optim_conflr3.0e-4"``."""
    compact = re.sub(f"=|[^{TAG_CHARS}]", "", args.replace("--", "_"))
    return re.sub(r"\.{2,}", ".", compact)


def split_args(text: str, where: str, key: str) -> List[str]:
    """The words of an extra-arguments option, split as a POSIX shell splits them (spaces separate,
    quotes group, backslash escapes) with nothing expanded or run: ``"$(x)"`` stays ``$(x)``.

    Refused: an unclosed quote, a line break inside a word, and a word that is a bare shell
    operator (:data:`SHELL_OPERATOR`), which run.pl/slurm.pl would hand to bash as syntax."""
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise _fail(where, key, text, f"cannot be split into words ({e})", "close the quote") from None
    for word in words:
        if "\n" in word:
            raise _fail(where, key, text, f"has a line break inside the word {word!r}", "write it on one line")
        if SHELL_OPERATOR.fullmatch(word):
            raise _fail(where, key, text, f"holds {word!r}, a shell operator to run.pl/slurm.pl, not an argument",
                        "remove it: extra arguments are options and values for the trainer")
    return words
