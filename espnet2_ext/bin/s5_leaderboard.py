"""The recipe-level RESULTS.md: every scored system under ``exp/``, best first.

    python -m espnet2_ext.bin.s5_leaderboard --exp exp --output RESULTS.md

Like ESPnet's ``show_enh_score.sh``: one row per ``exp/**/score/results.json`` (written
by stage 8), with CAPI-SDRi, label accuracies, CA-SDRi (2025 metric), parameters, the
models and the decode folder, the date, code version and package versions, and a link
to the listening report when there is one. Published results are added as reference
rows, clearly marked as not run here. Stage 8 rewrites the file after every scoring.

A second table gives, per system scored here, the 95 % percentile bootstrap interval of
CAPI-SDRi and of mixture accuracy (:mod:`espnet2_ext.s5.metrics.bootstrap`, from the
per-soundscape values in ``details``) and the paired bootstrap interval of its difference
from the best system scored here (highest CAPI-SDRi), on the soundscapes both scored.
Reference rows have no per-soundscape values: "—".
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from espnet2_ext.errors import S5InputError, cli_main
from espnet2_ext.output_paths import check_output_file
from espnet2_ext.fileio import atomic_path
from espnet2_ext.names import markdown_text, url_path
from espnet2_ext.s5.listening_report import report_index
from espnet2_ext.s5.metrics import bootstrap
from espnet2_ext.s5.results import per_soundscape, read_results_json

#: published dev-test results (not run here): (system, CAPI-SDRi dB, mixture acc %, source acc %, source)
REFERENCE_ROWS = (
    ("Bando_AIST_task4_3", 16.32, None, None, "DCASE2026 Task 4 results page"),
    ("Saijo_Mitsubishi_task4_3", 14.95, 78.11, None, "DCASE2026 Task 4 results page"),
    ("official baseline M2DAT_4c + ResUNetK", 8.489, 60.714, 70.394, "official baseline README"),
    ("official baseline M2DAT_1c + ResUNetK", 8.171, 57.143, 67.147, "official baseline README"),
)


def _read_json(path: Path) -> Optional[dict]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def system_row(results_file: Path, base: Path) -> Optional[Dict[str, object]]:
    """One leaderboard row from a score folder's results.json (None if it is not one)."""
    try:
        results = read_results_json(results_file, "results JSON")
    except S5InputError as e:     # a broken score folder is left out, never shown with wrong values
        logging.warning("skipping %s: %s", results_file, e)
        return None
    score_dir = results_file.parent
    config = results.get("config") or {}
    given = Path(config.get("estimate_dir") or "")
    estimate_dir = given if config.get("estimate_dir") and given.is_dir() else score_dir.parent
    model_info = _read_json(estimate_dir / "model_info.json") or {}
    env = config.get("environment") or {}
    acc = results.get("label_metrics") or {}
    report = report_index(score_dir)      # the listening report s5_score writes

    def rel(path: Optional[str]) -> str:
        if not path:
            return "oracle labels" if model_info.get("oracle_labels") else "?"
        try:
            return os.path.relpath(path, base)
        except ValueError:
            return path

    return {
        "system": os.path.relpath(estimate_dir.parent, base) if estimate_dir.parent != base else estimate_dir.name,
        "set": estimate_dir.name,
        "capi": (results.get("CAPI-SDRi") or {}).get("mean"),
        "acc_mix": acc.get("accuracy_mix"), "acc_src": acc.get("accuracy_src"),
        "ca2025": (results.get("CA-SDRi_2025") or {}).get("mean"),
        "nparams": results.get("nparams"),
        "tagger": rel(model_info.get("tagger_ckpt")), "separator": rel(model_info.get("separator_ckpt")),
        "date": datetime.datetime.fromtimestamp(results_file.stat().st_mtime).strftime("%Y-%m-%d %H:%M"),
        "code": env.get("code_version", "?"),
        "versions": ", ".join(f"{k} {env[k]}" for k in ("torch", "espnet") if k in env) or "?",
        "report": os.path.relpath(report, base) if report.is_file() else None,
        "per_soundscape": per_soundscape(results),
        "capi_ci": (results.get("CAPI-SDRi") or {}).get("ci95"), "acc_mix_ci": acc.get("accuracy_mix_ci95"),
    }


def _num(value: object, digits: int = 3) -> str:
    """A number with ``digits`` decimals; '–' for anything else (null, or a string in a crafted file)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f"{value:.{digits}f}" if number else "–"


def _table_row(cells: List[str]) -> str:
    """One Markdown table row of ``cells`` (already Markdown: names escaped, links built)."""
    return "| " + " | ".join(cells) + " |"


def _own_intervals(row: Dict[str, object]) -> Tuple[str, str]:
    """The row's CAPI-SDRi and mixture-accuracy intervals: as s5_score recorded them in results.json,
    else computed the same way from its per-soundscape values (older files), else '—'."""
    capi_ci, mix_ci, values = row["capi_ci"], row["acc_mix_ci"], row["per_soundscape"]
    if values and (capi_ci is None or mix_ci is None):
        capi, mix = zip(*values.values())
        capi_ci, mix_ci = capi_ci or bootstrap.mean_ci(capi), mix_ci or bootstrap.mean_ci(mix)
    return bootstrap.format_interval(capi_ci), bootstrap.format_interval(mix_ci)


def _differences(row: Dict[str, object], best: Optional[Dict[str, object]]) -> Tuple[str, str]:
    """Paired bootstrap of (row − best) for CAPI-SDRi and mixture accuracy, on the shared soundscapes."""
    if best is None:
        return "—", "—"
    if row is best:
        return "0 (best)", "0 (best)"
    mine, theirs = row["per_soundscape"], best["per_soundscape"]
    shared = [name for name in theirs if name in mine] if mine and theirs else []
    if not shared:
        return "—", "—"
    note = "" if len(shared) == len(mine) == len(theirs) else \
        f" (on the {len(shared)} shared of {len(mine)} / {len(theirs)})"
    cells = []
    for k in (0, 1):
        diff, ci = bootstrap.paired_difference([mine[n][k] for n in shared], [theirs[n][k] for n in shared])
        cells.append("—" if diff is None else f"{diff:+.3f} {bootstrap.format_interval(ci)}{note}")
    return cells[0], cells[1]


def intervals_markdown(ordered: List[Dict[str, object]]) -> List[str]:
    """The confidence-interval table (same row order as the main table)."""
    ours = [r for r in ordered if "source" not in r]
    best = next((r for r in ours if isinstance(r["capi"], (int, float))), None)   # rows are sorted
    lines = [
        "",
        f"## {100 * bootstrap.LEVEL:g} % bootstrap confidence intervals",
        "",
        f"Percentile bootstrap of the mean over the soundscapes ({bootstrap.RESAMPLES} resamples, seed "
        f"{bootstrap.SEED}). Δ = this system − the best system scored here"
        + (f" ({markdown_text(best['system'])})" if best else "")
        + ": paired bootstrap on the soundscapes both scored (the same resampled soundscapes for both).",
        f"A Δ interval that contains 0: the difference is not significant at the {100 * bootstrap.LEVEL:g} % "
        "level. Rows marked † have no per-soundscape values (—).",
        "",
        "| system | soundscapes | CAPI-SDRi 95 % CI (dB) | Δ CAPI-SDRi vs best (dB) [95 % CI] "
        "| Acc. mixture 95 % CI (%) | Δ Acc. mixture vs best (%) [95 % CI] |",
        "|---|---|---|---|---|---|",
    ]
    for r in ordered:
        if "source" in r:
            lines.append(_table_row([markdown_text(r["system"]), *["—"] * 5]))
            continue
        n = "—" if r["per_soundscape"] is None else str(len(r["per_soundscape"]))
        (capi, mix), (dcapi, dmix) = _own_intervals(r), _differences(r, best)
        lines.append(_table_row([markdown_text(r["system"]), n, capi, dcapi, mix, dmix]))
    return lines


def leaderboard_markdown(rows: List[Dict[str, object]]) -> str:
    """The RESULTS.md text: systems run here and reference rows, sorted by CAPI-SDRi.

    Every name (folders, model files, versions) is escaped with :func:`markdown_text` and the
    report link is percent-encoded, so a folder name cannot break the table or add a link."""
    refs = [{"system": f"{name} †", "capi": capi, "acc_mix": mix, "acc_src": src, "source": source}
            for name, capi, mix, src, source in REFERENCE_ROWS]
    ordered = sorted(rows + refs, key=lambda r: -(r["capi"] if r["capi"] is not None else float("-inf")))
    lines = [
        "<!-- Generated by espnet2_ext.bin.s5_leaderboard (stage 8); do not edit by hand -->",
        "# RESULTS (dev test set)",
        "",
        "Rows marked † are published results, **not run here** (source in the last column).",
        "Systems run here are listed by their decode folder (tagger, separator, model file, inference tag).",
        "",
        "| system | CAPI-SDRi (dB) | Acc. mixture (%) | Acc. source (%) | CA-SDRi 2025 (dB) | params (M) "
        "| tagger | separator | date | code | versions | listening report / source |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    md = markdown_text
    for r in ordered:
        if "source" in r:
            lines.append(_table_row([md(r["system"]), _num(r["capi"], 2), _num(r["acc_mix"], 2),
                                     _num(r["acc_src"], 2), *["–"] * 7, md(r["source"])]))
            continue
        params = "–" if r["nparams"] is None else f"{r['nparams'] / 1e6:.2f}"
        report = f"[report]({url_path(r['report'])})" if r["report"] else "–"
        lines.append(_table_row([md(r["system"]), _num(r["capi"]), _num(r["acc_mix"]), _num(r["acc_src"]),
                                 _num(r["ca2025"]), params, md(r["tagger"]), md(r["separator"]), md(r["date"]),
                                 md(r["code"]), md(r["versions"]), report]))
    return "\n".join(lines + intervals_markdown(ordered)) + "\n"


def collect(exp: Path, base: Path) -> List[Dict[str, object]]:
    """Rows of every ``<exp>/**/score/results.json``."""
    rows = [system_row(f, base) for f in sorted(exp.glob("**/score/results.json"))]
    return [r for r in rows if r is not None]


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", type=Path, default=Path("exp"), help="experiment folder to scan")
    p.add_argument("--output", type=Path, default=Path("RESULTS.md"), help="the leaderboard file")
    return p


@cli_main
def main(cmd=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    args = get_parser().parse_args(cmd)
    check_output_file(args.output, "--output")
    if not args.exp.is_dir():
        raise S5InputError(f"--exp {args.exp}: folder not found (run the recipe's stages 7-8 first)")
    base = args.output.resolve().parent
    rows = collect(args.exp, base)
    with atomic_path(args.output) as tmp:
        tmp.write_text(leaderboard_markdown(rows))
    logging.info("%s: %d system(s) scored here, %d reference rows", args.output, len(rows), len(REFERENCE_ROWS))


if __name__ == "__main__":
    main()
