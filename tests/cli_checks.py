"""Checks shared by every test of a CLI's failure: one ``ERROR:`` line, exit 2, no traceback.

``tests/`` is on ``sys.path`` (pytest puts the folder of ``tests/conftest.py`` there), so any
test imports these with ``from cli_checks import expect_error``.
"""
from __future__ import annotations

from typing import Callable, Sequence


def expect_error(main: Callable, argv: Sequence[str], capsys, *needles: str) -> str:
    """Call a CLI ``main(argv)``: it must exit 2 with one ``ERROR:`` message holding ``needles``.

    A ``main`` that returns, or exits with any other status (0 included), fails the test.
    Returns the message: the ``ERROR:`` line and any lines after it (multi-line reports).
    """
    capsys.readouterr()
    try:
        main(list(argv))
    except SystemExit as e:
        code = e.code
    else:
        code = 0
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert code == 2, f"exit status {code}, stderr:\n{err}"
    lines = err.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("ERROR: ")]
    assert len(starts) == 1, f"expected one ERROR line, got:\n{err}"
    message = "\n".join(lines[starts[0]:])
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    return message
