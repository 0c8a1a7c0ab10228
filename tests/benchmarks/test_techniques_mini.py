"""benchmarks/techniques_mini.py and the table it printed in docs/beyond_baseline.md: the docs'
rows are the script's rows, in its order, with its columns. (The script's figures are read from a
real mini run by tests/recipe/test_mini_recipe.py; the whole script takes about 20 minutes.)"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from techniques_mini import ROWS, main      # benchmarks/ is on sys.path (tests/conftest.py)

REPO = Path(__file__).resolve().parents[2]


def docs_table() -> list:
    text = (REPO / "docs" / "beyond_baseline.md").read_text()
    section = text[text.index("## Mini-run figures"):text.index("## Listening report")]
    return [line for line in section.splitlines() if line.startswith("| ")]


def test_the_docs_table_is_the_scripts_rows_in_its_columns():
    header, *rows = docs_table()
    assert header.count("|") == 8 and header.startswith("| options | CAPI-SDRi (dB) |")
    assert len(rows) == len(ROWS)
    for line, row in zip(rows, ROWS):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == f"`{' '.join(row.options) or '(stages 1-8)'}` (`{row.decode}`)"
        assert all(re.fullmatch(r"-?\d+\.\d+", c) for c in cells[1:4]), line
        assert re.fullmatch(r"-?\d+\.\d{3} / \d+\.\d % \(epoch \d+\)", cells[4]), line
        assert re.fullmatch(r"-?\d+\.\d{4} \(epoch \d+\)", cells[5]), line
        assert (cells[6] == "–") == (row.calibration is None), line


def test_the_rows_commands_are_run_sh_options_of_the_mini_recipe():
    """Each row names configs that exist, and options run.sh knows (run.sh --help lists them)."""
    recipe = REPO / "egs2" / "dcase26t4" / "s5"
    run_sh = (recipe / "run.sh").read_text()
    for row in ROWS:
        for flag, value in zip(row.options[::2], row.options[1::2]):
            assert flag.lstrip("-").replace("-", "_") + "=" in run_sh, flag
            if value.endswith(".yaml"):
                assert (recipe / value).is_file(), value


def test_a_missing_work_flag_is_refused():
    with pytest.raises(SystemExit) as stop:
        main([])
    assert stop.value.code == 2
