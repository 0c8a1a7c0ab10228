r"""Stage 8: score a folder of estimates with the DCASE2026 Task 4 metrics.

    python -m espnet2_ext.bin.s5_score --soundscape_dir D --oracle_target_dir O \
        --estimate_dir E --output_dir R [--system NAME] [--estimates_json E/estimates.json] \
        [--report true|false] [--report_n 10] [--report_soundscapes NAME ...] \
        [--report_audio_format mp3|wav] [--report_max_seconds 10]

Prints the official three lines (``CAPI-SDRi: x.xxx``, ``Accuracy (mixture): x.xxx``,
``Accuracy (source) : x.xxx``) and writes into R:

* ``results.json``  -- the official results shape (``CAPI-SDRi``, ``label_metrics``,
  ``details`` per soundscape) plus ``CA-SDRi_2025``, per-class CAPI-SDRi, the label
  confusion and the inputs (``config``); the 95 % percentile bootstrap intervals over the
  soundscapes (``CAPI-SDRi.ci95``, ``label_metrics.accuracy_mix_ci95``, settings under
  ``bootstrap``; see :mod:`espnet2_ext.s5.metrics.bootstrap`);
* ``RESULTS.md``    -- ESPnet-style tables;
* ``per_class_capi_sdri.png`` and ``label_confusion.png``;
* ``report/index.html`` -- the listening report (``--report true``, the default; see
  :mod:`espnet2_ext.s5.listening_report`), linked from RESULTS.md.

Estimates are any files named ``<soundscape>_<i>_<Label>.wav`` (see
:mod:`espnet2_ext.s5.estimates`); probabilities come from ``estimates.json`` when
present, else 1.0 as in the official file-based evaluation. The mixture
reference is channel 0 of the soundscape.
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import platform
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch
from tqdm import tqdm

from espnet2_ext import validate
from espnet2_ext.errors import S5InputError, cli_main
from espnet2_ext.output_paths import check_output_dir
from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.fileio import atomic_dir, atomic_path, write_json
from espnet2_ext.identity import environment
from espnet2_ext.names import markdown_text, url_path
from espnet2_ext.s5 import estimates as est_io
from espnet2_ext.s5 import listening_report
from espnet2_ext.s5.official import ESTIMATES_JSON
from espnet2_ext.s5.labels import CLASSES, LABELS_WITH_SILENCE
from espnet2_ext.s5.metrics import bootstrap
from espnet2_ext.s5.metrics import (
    ca_sdri,
    capi_sdri_details,
    confusion_matrix,
    confusion_pairs,
    label_accuracies,
    label_counts,
    mean_ignoring_none,
    pairwise_snr,
)

log = logging.getLogger("s5_score")
str2bool = quiet_import("espnet2.utils.types").str2bool


# ------------------------------------------------------------------------------------------
# scoring
# ------------------------------------------------------------------------------------------
@dataclass
class Scores:
    """Per-mixture results and what the summaries are computed from."""

    details: List[dict] = field(default_factory=list)
    capi: List[Optional[float]] = field(default_factory=list)
    ca_2025: List[Optional[float]] = field(default_factory=list)
    counts: List[dict] = field(default_factory=list)
    per_class: Dict[str, List[float]] = field(default_factory=lambda: defaultdict(list))
    confusion: List[Tuple[str, str]] = field(default_factory=list)


def score_records(records: Iterable[est_io.MixtureRecord]) -> Scores:
    """Score every mixture: CAPI-SDRi, label counts, 2025 CA-SDRi, per-class values, confusion."""
    scores = Scores()
    for r in records:
        args = (r.est_labels, torch.from_numpy(r.est_wavs), r.ref_labels,
                torch.from_numpy(r.ref_wavs), torch.from_numpy(r.mixture))
        capi = capi_sdri_details(*args)
        ca = ca_sdri(*args)
        counts = label_counts(r.est_labels, r.ref_labels)
        for label, values in capi.per_class.items():
            scores.per_class[label] += values
        snr_matrix = pairwise_snr(args[1], args[3])
        scores.confusion += confusion_pairs(r.est_labels, r.ref_labels, snr_matrix)
        scores.capi.append(capi.value)
        scores.ca_2025.append(ca)
        scores.counts.append(counts)
        scores.details.append({
            "soundscape": r.soundscape,
            "ref_labels": r.ref_labels,
            "est_labels": r.est_labels,
            "probabilities": r.probabilities,
            "metrics": [
                {"metric": "CAPI-SDRi", "value": capi.value},
                {"metric": "label_metrics", "value": counts},
                {"metric": "CA-SDRi_2025", "value": ca},
            ],
        })
    return scores


def summarize(scores: Scores, config: dict, nparams: Optional[int] = None) -> dict:
    """The results.json object (official keys first; ``nparams`` as the decoder recorded it)."""
    per_class = {c: {"mean": float(np.mean(scores.per_class[c])) if scores.per_class.get(c) else None,
                     "count": len(scores.per_class.get(c, []))} for c in CLASSES}
    mixture_correct = [100.0 if c["acc"] else 0.0 for c in scores.counts]   # accuracy_mix per soundscape
    return {
        "CAPI-SDRi": {"mean": mean_ignoring_none(scores.capi), "ci95": bootstrap.mean_ci(scores.capi)},
        "label_metrics": {**label_accuracies(scores.counts),
                          "accuracy_mix_ci95": bootstrap.mean_ci(mixture_correct)},
        "nparams": nparams,
        "CA-SDRi_2025": {"mean": mean_ignoring_none(scores.ca_2025)},
        "per_class_CAPI-SDRi": per_class,
        "label_confusion": {"labels": LABELS_WITH_SILENCE,
                            "rows": "reference", "columns": "estimate",
                            "matrix": confusion_matrix(scores.confusion).tolist()},
        "n_mixtures": len(scores.details),
        "n_scored_mixtures": sum(v is not None for v in scores.capi),
        "bootstrap": bootstrap.settings(),     # how the ci95 intervals were drawn
        "details": scores.details,
        "config": config,
    }


# ------------------------------------------------------------------------------------------
# reports
# ------------------------------------------------------------------------------------------
def _fmt(value: Optional[float]) -> str:
    return "nan" if value is None else f"{value:.3f}"


def official_lines(summary: dict) -> List[str]:
    """The three lines the official evaluate.py prints."""
    acc = summary["label_metrics"]
    return [f"CAPI-SDRi: {_fmt(summary['CAPI-SDRi']['mean'])}",
            f"Accuracy (mixture): {acc['accuracy_mix']:.3f}",
            f"Accuracy (source) : {acc['accuracy_src']:.3f}"]


def results_markdown(system: str, summary: dict, report: Optional[str] = None) -> str:
    """ESPnet-style RESULTS.md: main scores, then per-class CAPI-SDRi (one row per system).

    ``report``: relative link to the listening report, listed under Environment when given.
    The system name and the folders are escaped (:func:`markdown_text`): a name cannot break
    a table row or add a link.
    """
    cfg, acc = summary["config"], summary["label_metrics"]
    per_class = summary["per_class_CAPI-SDRi"]
    name = markdown_text(system)
    lines = [
        "<!-- Generated by espnet2_ext.bin.s5_score -->",
        "# RESULTS",
        "## Environment",
        f"- date: `{datetime.datetime.now().strftime('%a %b %d %H:%M:%S %Y')}`",
        f"- python version: `{platform.python_version()}`",
        f"- pytorch version: `{torch.__version__}`",
        f"- soundscapes: {markdown_text(cfg['soundscape_dir'])} ({summary['n_mixtures']} mixtures, "
        f"{summary['n_scored_mixtures']} with events)",
        f"- oracle targets: {markdown_text(cfg['oracle_target_dir'])}",
        f"- estimates: {markdown_text(cfg['estimate_dir'])}",
        *([f"- listening report: [{markdown_text(report)}]({url_path(report)})"] if report else []),
        "",
        f"## {name}",
        "|system|CAPI-SDRi (dB)|CAPI-SDRi 95 % CI (dB)|Accuracy mixture (%)|Accuracy mixture 95 % CI (%)|"
        "Accuracy source (%)|CA-SDRi 2025 (dB)|",
        "|---|---|---|---|---|---|---|",
        f"|{name}|{_fmt(summary['CAPI-SDRi']['mean'])}|{bootstrap.format_interval(summary['CAPI-SDRi']['ci95'])}|"
        f"{acc['accuracy_mix']:.3f}|{bootstrap.format_interval(acc['accuracy_mix_ci95'])}|"
        f"{acc['accuracy_src']:.3f}|{_fmt(summary['CA-SDRi_2025']['mean'])}|",
        "",
        f"{100 * summary['bootstrap']['level']:g} % percentile bootstrap over {summary['n_mixtures']} soundscapes "
        f"(CAPI-SDRi: the {summary['n_scored_mixtures']} with events), "
        f"{summary['bootstrap']['resamples']} resamples, seed {summary['bootstrap']['seed']}.",
        "",
        "### Per-class CAPI-SDRi (dB; misses and false alarms count 0)",
        "|system|" + "|".join(CLASSES) + "|",
        "|---" * (len(CLASSES) + 1) + "|",
        f"|{name}|" + "|".join("-" if per_class[c]["mean"] is None else f"{per_class[c]['mean']:.3f}"
                                 for c in CLASSES) + "|",
        "",
    ]
    return "\n".join(lines)


def _save_figure(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")


def plot_per_class(system: str, per_class: dict, path: Path) -> None:
    """Bar chart of per-class CAPI-SDRi (classes without any value are left empty)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = [per_class[c]["mean"] if per_class[c]["mean"] is not None else np.nan for c in CLASSES]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.bar(range(len(CLASSES)), values, color="tab:blue")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(CLASSES)))
    ax.set_xticklabels(CLASSES, rotation=60, ha="right")
    ax.set_ylabel("CAPI-SDRi (dB)")
    ax.set_title(f"Per-class CAPI-SDRi: {system}", parse_math=False)   # a '$' in a name is text
    _save_figure(fig, path)
    plt.close(fig)


def plot_confusion(system: str, matrix: np.ndarray, path: Path) -> None:
    """Label confusion (rows: reference, columns: estimate; 'silence' = false alarm / miss)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = CLASSES + ["silence (FA / miss)"]
    fig, ax = plt.subplots(figsize=(9, 8))
    image = ax.imshow(np.log1p(matrix), cmap="Blues")
    for (i, j), n in np.ndenumerate(matrix):
        if n:
            ax.text(j, i, str(n), ha="center", va="center", fontsize=7,
                    color="white" if np.log1p(n) > 0.6 * np.log1p(matrix.max()) else "black")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("estimated label")
    ax.set_ylabel("reference label")
    ax.set_title(f"Label confusion: {system}", parse_math=False)
    fig.colorbar(image, ax=ax, label="log(1 + count)")
    _save_figure(fig, path)
    plt.close(fig)


# ------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------
def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--soundscape_dir", type=Path, required=True, help="folder of <name>.wav mixtures")
    p.add_argument("--oracle_target_dir", type=Path, required=True, help="folder of reference sources")
    p.add_argument("--estimate_dir", type=Path, required=True, help="folder of estimated sources")
    p.add_argument("--output_dir", type=Path, required=True, help="where results.json etc. go")
    p.add_argument("--system", default=None,
                   help="system name in the reports (default: estimate folder name)")
    p.add_argument("--estimates_json", type=Path, default=None,
                   help="probabilities (default: <estimate_dir>/estimates.json if it exists)")
    p.add_argument("--report", type=str2bool, default=True,
                   help="write the listening report <output_dir>/report/index.html")
    p.add_argument("--report_n", type=validate.nonnegative_int, default=10,
                   help="report: how many best, median and worst soundscapes to show (each)")
    p.add_argument("--report_soundscapes", nargs="*", default=[],
                   help="report: soundscapes to show in addition")
    p.add_argument("--report_audio_format", default="mp3", choices=["mp3", "wav"],
                   help="report: listening copies as mp3 (small) or 16-bit PCM wav, both 16 kHz")
    p.add_argument("--report_max_seconds", type=validate.positive_float, default=listening_report.DEFAULT_MAX_SECONDS,
                   help="report: length of the listening copies (from the start)")
    p.add_argument("--log_level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def load_probabilities(args: argparse.Namespace, index) -> Tuple[Dict[str, float], Optional[Path]]:
    """filename -> probability from the estimates JSON (empty when there is none)."""
    path = args.estimates_json
    if path is None:
        default = args.estimate_dir / ESTIMATES_JSON
        path = default if default.is_file() else None
    elif not path.is_file():
        raise S5InputError(f"--estimates_json {path} not found")
    if path is None:
        log.info("no %s in %s: probabilities set to 1.0", ESTIMATES_JSON, args.estimate_dir)
        return {}, None
    return est_io.check_estimates_json(est_io.read_estimates_json(path), index, path), path


@cli_main
def main(cmd: Optional[List[str]] = None) -> None:
    args = get_parser().parse_args(cmd)
    check_output_dir(args.output_dir, "--output_dir")
    logging.basicConfig(level=args.log_level, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    system = args.system or args.estimate_dir.resolve().name

    soundscapes = est_io.list_soundscapes(args.soundscape_dir)
    ref_index = est_io.index_sources(args.oracle_target_dir, soundscapes, what="oracle target")
    est_index = est_io.index_sources(args.estimate_dir, soundscapes, what="estimate")
    probabilities, json_path = load_probabilities(args, est_index)
    if args.report:
        listening_report.check_options(soundscapes, args.report_n, args.report_soundscapes,
                                       args.report_audio_format, args.report_max_seconds)
    log.info("scoring %s: %d soundscapes, %d estimates", system, len(soundscapes),
             sum(map(len, est_index.values())))

    records = est_io.iter_records(args.soundscape_dir, soundscapes, ref_index, est_index, probabilities)
    scores = score_records(tqdm(records, total=len(soundscapes), desc="scoring", unit="mix"))
    config = {"system": system, "soundscape_dir": str(args.soundscape_dir),
              "oracle_target_dir": str(args.oracle_target_dir), "estimate_dir": str(args.estimate_dir),
              "estimates_json": None if json_path is None else str(json_path), "environment": environment()}
    info = args.estimate_dir / "model_info.json"   # written by s5_inference
    nparams = json.loads(info.read_text()).get("nparams") if info.is_file() else None
    summary = summarize(scores, config, nparams)

    for line in official_lines(summary):
        print(line)
    out = args.output_dir
    report = listening_report.REPORT_INDEX if args.report else None
    with atomic_dir(out) as tmp:    # the folder is replaced as a unit: never new files beside old ones
        write_json(tmp / "results.json", summary, indent=4)
        if args.report:
            listening_report.write_report(
                tmp, summary, lambda names: est_io.iter_records(args.soundscape_dir, names, ref_index,
                                                                est_index, probabilities),
                system, n=args.report_n, extra=args.report_soundscapes,
                audio_format=args.report_audio_format, max_seconds=args.report_max_seconds)
        (tmp / "RESULTS.md").write_text(results_markdown(system, summary, report))
        plot_per_class(system, summary["per_class_CAPI-SDRi"], tmp / "per_class_capi_sdri.png")
        plot_confusion(system, np.asarray(summary["label_confusion"]["matrix"]), tmp / "label_confusion.png")
    log.info("wrote %s/{results.json,RESULTS.md,per_class_capi_sdri.png,label_confusion.png%s}", out,
             f",{report}" if report else "")


if __name__ == "__main__":
    main()
