"""The CLIs under espnet2_ext/bin are thin and independent: none imports another (shared helpers
live in the library, e.g. espnet2_ext/s5/devices.py and espnet2_ext/s5/model_files.py)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

BIN = Path(__file__).resolve().parents[2] / "espnet2_ext" / "bin"


def imported_modules(path: Path):
    """Every module an ``import``/``from ... import`` of ``path`` names (at any depth), absolute."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:                   # relative: from . import x / from .s5_x import y
                base = ".".join(["espnet2_ext", "bin"][:3 - node.level] + ([base] if base else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


@pytest.mark.parametrize("path", sorted(BIN.glob("*.py")), ids=lambda p: p.name)
def test_no_cli_imports_another(path):
    others = sorted({m for m in imported_modules(path)
                     if m.startswith("espnet2_ext.bin.") and m.split(".")[2] != path.stem})
    assert not others, f"{path.name} imports {others}: move the shared code into the library"
