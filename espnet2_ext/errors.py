"""User-facing errors and the CLI wrapper that turns them into clean exits.

Raise :class:`S5InputError` for anything the *user* can fix (bad file, wrong
sample rate, unknown label, wrong checkpoint): the message must name the item
and say what to do. ``cli_main`` prints it without a traceback and exits 2.
"""
from __future__ import annotations

import argparse
import functools
import logging
import sys
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable[..., object])


class S5InputError(Exception):
    """Bad input that the user can fix; the message names the item and the fix."""


def _flag_error(parser: argparse.ArgumentParser, message: str) -> None:
    """argparse's error(): an S5InputError naming the command, instead of usage text on stderr."""
    raise S5InputError(f"{parser.prog}: {message} (see --help)")


def cli_main(func: F) -> F:
    """Decorate a ``main()`` so that S5InputError exits 2 with a one-line message.

    A bad flag (argparse's own errors: unknown option, wrong type, out of range) is one
    such line too, not argparse's usage text."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        original = argparse.ArgumentParser.error
        argparse.ArgumentParser.error = _flag_error
        try:
            return func(*args, **kwargs)
        except S5InputError as e:
            logging.getLogger(func.__module__).debug("input error", exc_info=True)
            print(f"ERROR: {e}", file=sys.stderr)
            sys.exit(2)
        finally:
            argparse.ArgumentParser.error = original

    return wrapper  # type: ignore[return-value]
