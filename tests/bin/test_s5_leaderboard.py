"""s5_leaderboard: the bootstrap interval table, end to end through the CLI."""
import json
from pathlib import Path
from typing import Dict, List, Optional

from espnet2_ext.bin import s5_leaderboard
from espnet2_ext.names import markdown_text
from espnet2_ext.s5.metrics import bootstrap, mean_ignoring_none

NAMES = [f"sc_{i:02d}" for i in range(40)]
BASE = [None if i % 10 == 0 else 0.5 * (i % 17) - 2.0 for i in range(40)]   # halves: exact sums
CORRECT = [i % 3 != 0 for i in range(40)]


def write_results(exp: Path, decode: str, capi: List[Optional[float]], correct: List[bool],
                  names: List[str] = NAMES, details: bool = True, extra: Optional[Dict] = None) -> None:
    """exp/<decode>/test/score/results.json as s5_score writes it (details with per-soundscape metrics)."""
    path = exp / decode / "test" / "score" / "results.json"
    path.parent.mkdir(parents=True)
    results = {
        "CAPI-SDRi": {"mean": mean_ignoring_none(capi)},
        "label_metrics": {"accuracy_mix": 100 * sum(correct) / len(correct), "accuracy_src": 50.0},
        "details": [{"soundscape": n, "metrics": [{"metric": "CAPI-SDRi", "value": v},
                                                  {"metric": "label_metrics", "value": {"acc": c}}]}
                    if details else {"soundscape": n} for n, v, c in zip(names, capi, correct)],
        **(extra or {}),
    }
    path.write_text(json.dumps(results))


def interval_rows(board: str) -> Dict[str, List[str]]:
    """system -> cells of the interval table."""
    table = board[board.index("## 95 % bootstrap confidence intervals"):]
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]
    return {cells[0]: cells[1:] for cells in (r.strip("| ").split(" | ") for r in rows)}


def ci(interval: List[float]) -> str:
    return f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def test_intervals_and_paired_differences_from_the_best(tmp_path, capsys):
    exp = tmp_path / "exp"
    shifted = [None if v is None else v + 2.0 for v in BASE]
    write_results(exp, "decode_a", shifted, CORRECT)                         # best
    write_results(exp, "decode_b", BASE, CORRECT)                            # a − 2 dB everywhere
    write_results(exp, "decode_c", list(shifted), list(CORRECT))             # identical to a
    write_results(exp, "decode_d", BASE[:20], [True] * 20, names=NAMES[:20])  # half the soundscapes
    write_results(exp, "decode_e", BASE, CORRECT, details=False)             # an older file: no values
    write_results(exp, "decode_f", BASE, CORRECT, details=False,             # ... with recorded intervals
                  extra={"CAPI-SDRi": {"mean": -1.0, "ci95": [-1.5, -0.5]}})
    s5_leaderboard.main(["--exp", str(exp), "--output", str(tmp_path / "RESULTS.md")])

    board = (tmp_path / "RESULTS.md").read_text()
    assert "(1000 resamples, seed 0)" in board and f"best system scored here ({markdown_text('exp/decode_a')})" in board
    rows = interval_rows(board)
    assert len(rows) == 6 + len(s5_leaderboard.REFERENCE_ROWS)
    a, b, c, d = (rows[markdown_text(f"exp/decode_{k}")] for k in "abcd")
    mix = [100.0 if x else 0.0 for x in CORRECT]
    assert a == ["40", ci(bootstrap.mean_ci(shifted)), "0 (best)", ci(bootstrap.mean_ci(mix)), "0 (best)"]
    assert b[:3] == ["40", ci(bootstrap.mean_ci(BASE)), "-2.000 [-2.000, -2.000]"]      # exactly the shift
    assert b[4] == "+0.000 [0.000, 0.000]"                                                # same accuracy
    assert c[2] == c[4] == "+0.000 [0.000, 0.000]"                                        # identical systems
    diff, interval = bootstrap.paired_difference(BASE[:20], shifted[:20])
    assert d[2] == f"{diff:+.3f} {ci(interval)} (on the 20 shared of 20 / 40)" and diff == -2.0
    diff, interval = bootstrap.paired_difference([100.0] * 20, mix[:20])
    assert d[4] == f"{diff:+.3f} {ci(interval)} (on the 20 shared of 20 / 40)" and interval[0] > 0
    assert rows[markdown_text("exp/decode_e")] == ["—", "—", "—", "—", "—"]
    assert rows[markdown_text("exp/decode_f")] == ["—", "[-1.500, -0.500]", "—", "—", "—"]
    for name, *_ in s5_leaderboard.REFERENCE_ROWS:                                        # not run here
        assert rows[markdown_text(f"{name} †")] == ["—"] * 5
    assert list(rows)[0] == markdown_text("Bando_AIST_task4_3 †")                          # same order


def test_no_system_scored_here_leaves_every_interval_empty(tmp_path):
    (tmp_path / "exp").mkdir()
    s5_leaderboard.main(["--exp", str(tmp_path / "exp"), "--output", str(tmp_path / "RESULTS.md")])
    rows = interval_rows((tmp_path / "RESULTS.md").read_text())
    assert len(rows) == len(s5_leaderboard.REFERENCE_ROWS) and all(r == ["—"] * 5 for r in rows.values())


def test_disjoint_soundscapes_give_no_difference(tmp_path):
    exp = tmp_path / "exp"
    write_results(exp, "decode_a", [3.0, 4.0], [True, True], names=["x", "y"])
    write_results(exp, "decode_b", [1.0, 2.0], [True, False], names=["u", "v"])
    s5_leaderboard.main(["--exp", str(exp), "--output", str(tmp_path / "RESULTS.md")])
    rows = interval_rows((tmp_path / "RESULTS.md").read_text())
    assert rows[markdown_text("exp/decode_b")] == ["2", "[1.000, 2.000]", "—", "[0.000, 100.000]", "—"]
    assert rows[markdown_text("exp/decode_a")][2] == "0 (best)"
