"""Checks of values read from files and flags, with messages naming the file and the key.

One helper per kind of value; every reader of a format calls them where it reads
the value, so a NaN probability, a negative onset or a string where a number
belongs stops with an :class:`S5InputError` (``<where>: <key> = <value> <problem>;
<fix>``) instead of a silently wrong result.
"""
from __future__ import annotations

import argparse
import math
from numbers import Integral, Real
from typing import Any, Callable, Optional, Tuple, Type, Union

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
