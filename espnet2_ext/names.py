"""Names from outside in what we write and create: escaped in text, checked in file names.

Folder and file names (experiments, decode folders, soundscapes, model files), tags and
user strings (author, affiliation, system name) reach Markdown tables, HTML pages and
the names of folders we create. One helper per use, defined here only:

* :func:`markdown_text`: a name as literal Markdown text (a table cell, a list item): it
  cannot end a table row, open a link, emphasis or code span, or inject HTML;
* :func:`html_text`: a name as HTML text or a quoted attribute value;
* :func:`url_path`: a relative path as a percent-encoded link target (Markdown or HTML);
* :func:`control_characters` / :func:`check_name`: names with control characters (a
  trailing newline included) are refused where they are read;
* :func:`check_folder_name`: the name of a folder or archive we create holds no control
  character, no ``/`` and no ``..``.
"""
from __future__ import annotations

import html
import unicodedata
from typing import Dict, List
from urllib.parse import quote

from espnet2_ext.errors import S5InputError

#: Unicode categories refused in names and replaced in Markdown: controls (newline, tab,
#: escape, DEL, C1 controls) and the line / paragraph separators
_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
#: Markdown punctuation escaped with a backslash (``\\`` first: an escape is never undone)
_MARKDOWN_BACKSLASHED = "\\`*_[]|"
#: Markdown characters written as HTML entities (renderers pass raw HTML through)
_MARKDOWN_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in _CONTROL_CATEGORIES


def _visible(char: str) -> str:
    """A control character shown as its Unicode control picture (newline: ␊), others as U+FFFD."""
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)
    return "\u2421" if code == 0x7F else "\ufffd"


def _markdown_table() -> Dict[int, str]:
    table = {ord(c): "\\" + c for c in _MARKDOWN_BACKSLASHED}
    table.update({ord(c): e for c, e in _MARKDOWN_ENTITIES.items()})
    return table


_MARKDOWN_TABLE = _markdown_table()


def markdown_text(value: object) -> str:
    """``str(value)`` as literal Markdown text, safe in a table cell, a list item or a heading.

    Escapes ``\\ ` * _ [ ] |`` with a backslash and ``& < >`` as HTML entities; control
    characters and line separators become visible symbols (a newline is ``␊``), so a
    name never ends a table row or a line."""
    text = str(value).translate(_MARKDOWN_TABLE)
    return "".join(_visible(c) if _is_control(c) else c for c in text)


def html_text(value: object) -> str:
    """``str(value)`` as HTML text or attribute value (``& < > " '`` escaped)."""
    return html.escape(str(value), quote=True)


def url_path(relpath: str) -> str:
    """A relative path as a percent-encoded link target (``/`` kept; spaces, ``()``, ``#``,
    ``?``, quotes and ``%`` encoded), for Markdown links and (after :func:`html_text`) HTML."""
    return quote(relpath)


def control_characters(name: str) -> List[str]:
    """The control characters of ``name`` (as ``repr`` strings, e.g. ``'\\n'``), in order."""
    return [repr(c) for c in name if _is_control(c)]


def error_summary(error: BaseException) -> str:
    """``Type: first line of the message``, control characters as spaces: an exception from
    elsewhere (e.g. the Hub) told in one line of an ERROR message."""
    text = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    text = "".join(" " if _is_control(c) else c for c in text)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def check_name(name: str, what: str, fix: str) -> str:
    """Return ``name`` unless it holds a control character (a trailing newline, a tab...):
    then one S5InputError ``<what> <name!r>: the name holds the control character(s) ...; <fix>``."""
    bad = control_characters(name)
    if bad:
        raise S5InputError(f"{what} {name!r}: the name holds the control character(s) {', '.join(bad)}; {fix}")
    return name


def check_folder_name(name: str, option: str) -> str:
    """Return ``name``, the name of a folder or archive we create, unless it is empty or holds a
    control character, ``/`` or ``..``: then one S5InputError naming ``option``."""
    fix = "use letters, digits, '-', '_' and single dots"
    check_name(name, option, fix)
    if not name or "/" in name or ".." in name:
        raise S5InputError(f"{option} {name!r}: a folder or archive name must not be empty or hold '/' or '..'; "
                           f"{fix}")
    return name
