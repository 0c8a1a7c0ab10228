"""REPORT.md and the tests agree: every catalogue case is tested once and reported once."""
from __future__ import annotations

import importlib
import re
from collections import Counter
from pathlib import Path

from types import SimpleNamespace

from reliability_cases import (CASES, CATALOGUE_CASES, SECURITY_CASES, case_outcome, counts_line, render_report,
                               run_summary)

TEST_MODULES = ("test_bad_input_catalogue", "test_interruptions", "test_determinism", "test_fuzz",
                "test_security_loading", "test_security_archives", "test_security_options",
                "test_security_outputs")
REPORT = Path(__file__).with_name("REPORT.md")


def covered_case_ids() -> Counter:
    """How many test functions declare each case id (``@covers``)."""
    ids: Counter = Counter()
    for name in TEST_MODULES:
        module = importlib.import_module(name)
        for attr in vars(module).values():
            if callable(attr) and attr.__name__.startswith("test_"):
                ids.update(getattr(attr, "case_ids", ()))
    return ids


def test_every_case_is_tested_exactly_once():
    ids = [c.id for c in CASES + SECURITY_CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    covered = covered_case_ids()
    assert sorted(covered) == sorted(ids), (set(ids) ^ set(covered))
    assert all(n == 1 for n in covered.values()), [k for k, n in covered.items() if n != 1]


def test_report_lists_exactly_the_tested_cases():
    text = REPORT.read_text()
    assert text == render_report(), ("REPORT.md is stale; regenerate it: python "
                                     "tests/reliability/reliability_cases.py > tests/reliability/REPORT.md")
    rows = [line.split("|")[1].strip().strip("`") for line in text.splitlines() if line.startswith("| `")]
    assert rows == [c.id for c in CASES + SECURITY_CASES]
    assert sorted(rows) == sorted(covered_case_ids())
    assert text.splitlines()[2] == counts_line()
    match = re.fullmatch(r"(\d+) bad inputs, (\d+) interruptions tried", counts_line())
    assert match and int(match.group(1)) >= 20 and int(match.group(2)) >= 3


def test_run_summary_counts_failed_cases():
    bad = next(c.id for c in CASES if c.kind == "bad input")
    lost = [c.id for c in CASES if c.kind == "interruption"][:2]
    line = run_summary({bad: False, lost[0]: False, lost[1]: True})
    assert "1 of " in line and "1 not refused cleanly" in line
    assert "2 of " in line and "1 lost" in line
    assert "0 of " in line and "0 got through" in line
    everything = {c.id: True for c in CASES + SECURITY_CASES}
    n_int = sum(c.kind == "interruption" for c in CASES)
    assert f"{n_int} of {n_int} interruptions tried, 0 lost" in run_summary(everything)


def test_case_outcome_counts_reports_as_xdist_delivers_them():
    """A case fails when any phase of its test failed; reports without case ids or skipped ones
    count nothing; the ids arrive as JSON lists (how xdist serialises user_properties)."""
    def report(when, outcome, cases=("a", "b")):
        return SimpleNamespace(when=when, passed=outcome == "passed", failed=outcome == "failed",
                               skipped=outcome == "skipped", user_properties=[[CATALOGUE_CASES, list(cases)]])
    passed = {}
    for rep in (report("setup", "passed"), report("call", "passed"), report("teardown", "failed"),
                report("call", "passed", cases=("c",)), report("call", "skipped", cases=("d",))):
        case_outcome(passed, rep)
    case_outcome(passed, SimpleNamespace(when="call", passed=False, failed=True, skipped=False, user_properties=[]))
    assert passed == {"a": False, "b": False, "c": True}
