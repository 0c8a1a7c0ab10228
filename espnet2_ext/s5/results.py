"""results.json of s5_score, as the submission and the leaderboard read it."""
from __future__ import annotations

from pathlib import Path

from espnet2_ext import validate
from espnet2_ext.fileio import read_json


def read_results_json(path: Path, what: str = "results JSON") -> dict:
    """A results.json of s5_score with the values the submission copies checked:
    ``CAPI-SDRi.mean`` a finite number (or null), ``label_metrics.accuracy_*`` in [0, 100], ``nparams``
    an integer >= 0 if present, ``details`` a list of ``{"soundscape": <name>, ...}``."""
    results = read_json(path, what, allow_nan=False,
                        fix="it is copied into the submission, which must be strict JSON; score again (stage 8)")
    where = f"{what} {path}"
    fix = "expected a results.json of s5_score; score the dev test set again (stage 8)"
    validate.keys(results, ("CAPI-SDRi", "details"), where, "the top level", fix)
    validate.keys(results["CAPI-SDRi"], ("mean",), where, "CAPI-SDRi", fix)
    if results["CAPI-SDRi"]["mean"] is not None:
        validate.number(results["CAPI-SDRi"]["mean"], where, "CAPI-SDRi.mean", fix=fix)
    metrics = validate.keys(results.get("label_metrics"), ("accuracy_mix", "accuracy_src"), where,
                            "label_metrics", fix)
    for key in ("accuracy_mix", "accuracy_src"):
        validate.number(metrics[key], where, f"label_metrics.{key}", lo=0, hi=100, fix=fix)
    if results.get("nparams") is not None:
        validate.number(results["nparams"], where, "nparams", lo=0, integer=True, fix=fix)
    validate.typed(results["details"], list, where, "details", fix)
    for i, detail in enumerate(results["details"]):
        validate.keys(detail, ("soundscape",), where, f"details[{i}]", fix)
        validate.typed(detail["soundscape"], str, where, f"details[{i}].soundscape", fix)
    return results
