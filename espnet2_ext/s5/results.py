"""results.json of s5_score, as the submission and the leaderboard read it."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from espnet2_ext import validate
from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import read_json


def _interval(value: Any, where: str, key: str, fix: str, lo: Optional[float] = None,
              hi: Optional[float] = None) -> Optional[List[float]]:
    """A confidence interval ``[lo, hi]`` of two finite numbers, lo <= hi (or null: none)."""
    if value is None:
        return None
    validate.typed(value, list, where, key, fix)
    if len(value) != 2:
        raise S5InputError(f"{where}: {key} = {value!r:.60} is not a pair [lo, hi]; {fix}")
    low, high = (validate.number(v, where, f"{key}[{i}]", lo=lo, hi=hi, fix=fix) for i, v in enumerate(value))
    if low > high:
        raise S5InputError(f"{where}: {key} = {value!r} has lo > hi; {fix}")
    return [low, high]


def _bootstrap(value: Any, where: str, fix: str) -> None:
    validate.keys(value, ("resamples", "seed", "level"), where, "bootstrap", fix)
    validate.number(value["resamples"], where, "bootstrap.resamples", lo=1, integer=True, fix=fix)
    validate.number(value["seed"], where, "bootstrap.seed", lo=0, integer=True, fix=fix)
    validate.number(value["level"], where, "bootstrap.level", lo=0, hi=1, lo_open=True, hi_open=True, fix=fix)


def read_results_json(path: Path, what: str = "results JSON") -> dict:
    """A results.json of s5_score with the values the submission copies checked:
    ``CAPI-SDRi.mean`` a finite number (or null), ``label_metrics.accuracy_*`` in [0, 100], ``nparams``
    an integer >= 0 if present, ``details`` a list of ``{"soundscape": <name>, ...}``; when present
    (s5_score writes them since the bootstrap intervals; older files lack them) ``CAPI-SDRi.ci95`` and
    ``label_metrics.accuracy_mix_ci95`` pairs ``[lo, hi]`` (or null) and ``bootstrap`` its settings."""
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
    _interval(results["CAPI-SDRi"].get("ci95"), where, "CAPI-SDRi.ci95", fix)
    _interval(metrics.get("accuracy_mix_ci95"), where, "label_metrics.accuracy_mix_ci95", fix, lo=0, hi=100)
    if "bootstrap" in results:
        _bootstrap(results["bootstrap"], where, fix)
    if results.get("nparams") is not None:
        validate.number(results["nparams"], where, "nparams", lo=0, integer=True, fix=fix)
    validate.typed(results["details"], list, where, "details", fix)
    for i, detail in enumerate(results["details"]):
        validate.keys(detail, ("soundscape",), where, f"details[{i}]", fix)
        validate.typed(detail["soundscape"], str, where, f"details[{i}].soundscape", fix)
    return results


def _metric(detail: dict, name: str) -> Any:
    for entry in detail.get("metrics") or []:
        if isinstance(entry, dict) and entry.get("metric") == name:
            return entry.get("value")
    raise KeyError(name)


def per_soundscape(results: dict) -> Optional[Dict[str, Tuple[Optional[float], float]]]:
    """soundscape -> (CAPI-SDRi or None, mixture correct: 100.0 or 0.0), in the order of ``details``.

    From each ``details[].metrics`` entry (``CAPI-SDRi`` value, ``label_metrics`` value ``acc``),
    what the bootstrap intervals are computed from. ``None`` when a detail lacks them, holds
    something else, or a soundscape is listed twice: such a file gives no interval."""
    out: Dict[str, Tuple[Optional[float], float]] = {}
    for detail in results.get("details") or []:
        try:
            capi, counts = _metric(detail, "CAPI-SDRi"), _metric(detail, "label_metrics")
            correct = counts["acc"]
        except (KeyError, TypeError):
            return None
        number = isinstance(capi, (int, float)) and not isinstance(capi, bool) and math.isfinite(capi)
        if not (capi is None or number) or not isinstance(correct, bool) or detail["soundscape"] in out:
            return None
        out[detail["soundscape"]] = (None if capi is None else float(capi), 100.0 if correct else 0.0)
    return out
