"""Sample rates come from espnet2_ext/s5/official.py: no other module of the package writes one
as a number (strings, e.g. docstrings and examples, are free)."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "espnet2_ext"
RATES = {11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000}   # (8000 is also a byte count)


def test_no_literal_sample_rate_outside_official():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "s5" / "official.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value in RATES:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.value}")
    assert not found, "sample rates as numbers (use espnet2_ext.s5.official): " + "; ".join(found)
