"""The model card (README.md) of a packed S5 system: what stage 9 writes into every archive.

:func:`model_card` renders a Hugging Face model card: a YAML metadata header (``---`` lines,
written with ``yaml.safe_dump``: names are data, never template code) with ``license``,
``library_name``, ``tags``, ``datasets``, ``metrics`` and a ``model-index`` holding the dev-test
results, then Markdown sections: System, Training configs, Results on the dev test set (with
the bootstrap 95 % intervals of s5_score when results.json has them), Code version, How to use,
Licence, Citation. Every name from outside (system, experiment and file names, config values)
goes through :func:`espnet2_ext.names.markdown_text`.

The card documents the system; ``meta.yaml`` stays the archive's source of truth.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from espnet2_ext.errors import S5InputError
from espnet2_ext.names import markdown_text
from espnet2_ext.s5.metrics.bootstrap import format_interval

CARD_FILE = "README.md"
OFFICIAL_REPO = "https://github.com/nttcslab/dcase2026_task4_baseline"
M2D_REPO = "https://github.com/nttcslab/m2d"
LICENSE_NAME = "ntt-software-license-agreement-for-evaluation"
LICENSE_LINK = f"{OFFICIAL_REPO}/blob/HEAD/LICENSE.pdf"
NO_INTERVAL = "interval not computed (scored before intervals existed)"
NOT_BOOTSTRAPPED = "interval not computed (s5_score gives none for this metric)"
NO_VALUES = "no interval (no soundscape to resample)"
TAGS = ["audio", "sound-event-detection", "audio-source-separation", "dcase2026", "espnet"]
DATASET = "DCASE2026Task4Dataset"          # the Zenodo record's name (19328046); not a Hub dataset id
DATASET_NAME = "DCASE2026 Task 4 development set (dev test split)"
#: the training options shown per config: (key, sub-key or None for the whole value)
HYPERPARAMETERS = ("loss", "optim", "optim_conf", "scheduler", "scheduler_conf", "batch_size", "max_epoch",
                   "seed", "grad_clip", "train_dtype", "init_param", "best_model_criterion", "keep_nbest_models")
CITATION = """\
@article{nguyen2026dcase,
  title={Description and Discussion on DCASE 2026 Challenge task 4: Spatial Semantic Segmentation of Sound Scenes},
  author={Nguyen, Binh Thien and Yasuda, Masahiro and Harada, Noboru and Serizel, Romain and Mishra, Mayank and Delcroix, Marc and Carlos, Hernandez-Olivan and Araki, Shoko and Takeuchi, Daiki and Nakatani, Tomohiro and Ono, Nobutaka},
  journal={arXiv preprint arXiv:2604.00776},
  year={2026},
  url={https://arxiv.org/pdf/2604.00776}
}

@inproceedings{nguyen2026icassp,
  title={Class-Aware Permutation-Invariant Signal-to-Distortion Ratio for Semantic Segmentation of Sound Scene with Same-Class Sources},
  author={Nguyen, Binh Thien and Yasuda, Masahiro and Takeuchi, Daiki and Niizumi, Daisuke and Harada, Noboru},
  booktitle={2026 IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
  year={2026},
  url={https://arxiv.org/pdf/2601.22504}
}"""


Interval = Optional[Tuple[float, float]]


def _interval(section: Mapping, key: str, where: str) -> Interval:
    """``section[key]`` as (lo, hi), None when absent or null; anything else than two finite numbers
    is an error."""
    value = section.get(key)
    if value is None:
        return None
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise S5InputError(f"{where}: {key} must be [lo, hi] (two finite numbers), got {value!r}; "
                           f"score the dev test set again (stage 8)")
    return float(value[0]), float(value[1])


def scores(results: Mapping, where: str) -> List[Tuple[str, str, Optional[float], Interval, str]]:
    """(metric id, name, value, 95 % interval, the interval as Markdown) of the dev-test results
    (a checked results.json); an interval that is absent (older s5_score) or null (nothing to
    resample) is said so in words."""
    capi, acc = results["CAPI-SDRi"], results["label_metrics"]
    out = []
    for metric, name, section, value_key, key in (
            ("capi-sdri", "CAPI-SDRi (dB)", capi, "mean", "ci95"),
            ("accuracy", "Mixture label accuracy (%)", acc, "accuracy_mix", "accuracy_mix_ci95"),
            ("accuracy", "Source label accuracy (%)", acc, "accuracy_src", "accuracy_src_ci95")):
        ci = _interval(section, key, where)
        if ci is not None:
            shown = format_interval(ci)
        elif key in section:
            shown = NO_VALUES
        else:
            shown = NOT_BOOTSTRAPPED if "bootstrap" in results else NO_INTERVAL
        out.append((metric, name, section[value_key], ci, shown))
    return out


def metadata(name: str, results: Optional[Mapping], where: str = "results.json") -> dict:
    """The Hugging Face model-card metadata (the modelcard.md spec; ``model-index`` as
    ``huggingface_hub.repocard_data.eval_results_to_model_index`` writes it)."""
    meta: dict = {"license": "other", "license_name": LICENSE_NAME, "license_link": LICENSE_LINK,
                  "library_name": "espnet", "tags": list(TAGS), "datasets": [DATASET],
                  "metrics": ["capi-sdri", "accuracy"]}
    metrics = [{"type": metric, "value": value, "name": label}
               for metric, label, value, _, _ in (scores(results, where) if results else []) if value is not None]
    if metrics:
        meta["model-index"] = [{"name": name, "results": [{
            "task": {"type": "audio-to-audio", "name": "Spatial semantic segmentation of sound scenes (S5)"},
            "dataset": {"name": DATASET_NAME, "type": DATASET, "split": "test"},
            "metrics": metrics}]}]
    return meta


def _value(value: object) -> str:
    """A config value as escaped Markdown text (mappings and lists as compact JSON)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(", ", ": "))
    return markdown_text(text)


def _table(rows: Sequence[Tuple[str, str]], head: Tuple[str, str] = ("Item", "Value")) -> List[str]:
    """A two-column Markdown table; the cells are already Markdown."""
    return [f"| {head[0]} | {head[1]} |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]


def _model_rows(kind: str, config: Mapping, source: str, digest: str) -> List[Tuple[str, str]]:
    conf = config.get(f"{kind}_conf") or {}
    return [(kind.capitalize(), _value(config.get(kind, "(not in config.yaml)"))),
            (f"{kind.capitalize()} options", _value(conf) if conf else "none (defaults)"),
            (f"{kind.capitalize()} checkpoint", f"{markdown_text(source)} (packed as {kind}/model.pth, {digest})")]


def _system(name: str, configs: Mapping[str, Mapping], sources: Mapping[str, str], digests: Mapping[str, str],
            m2d: Mapping[str, str], calibration: Optional[Mapping], files: Mapping[str, str]) -> List[str]:
    rows = _model_rows("tagger", configs["tagger"], sources["tagger"], digests["tagger"])
    rows.append(("M2D backbone weights", f"{markdown_text(m2d.get('path', '?'))} "
                 f"({markdown_text(m2d.get('digest', '?'))}; not packed: stage 1 downloads them, unpacking "
                 f"checks the digest)"))
    rows += _model_rows("separator", configs["separator"], sources["separator"], digests["separator"])
    if calibration is None:
        rows.append(("Slot decisions", "argmax per slot (the official baseline's rule); no calibration"))
    else:
        rows.append(("Slot decisions", f"calibrated per-class thresholds (calibration.json), objective "
                     f"{_value(calibration.get('objective', 'not recorded'))}, min\\_probability "
                     f"{_value(calibration.get('min_probability', 'not recorded'))}; fitted on the validation set"))
    rows.append(("Packed files (meta.yaml)", ", ".join(f"{markdown_text(k)}: {markdown_text(v)}"
                                                       for k, v in sorted(files.items()))))
    return ["## System", "", f"System {markdown_text(name)}: an audio tagger finds up to three sound events in "
            "a 4-channel 32 kHz mixture, and a label-queried separator extracts each of them.", ""] + _table(rows)


def _configs(configs: Mapping[str, Mapping]) -> List[str]:
    out = ["## Training configs", "",
           "The espnet2 training configs are packed as tagger/config.yaml and separator/config.yaml "
           "(the full configs; the key hyperparameters below).", ""]
    for kind, config in configs.items():
        rows = [(markdown_text(key), _value(config[key])) for key in HYPERPARAMETERS
                if config.get(key) not in (None, "", [], {})]
        out += [f"### {kind}/config.yaml", ""] + _table(rows, ("Option", "Value")) + [""]
    return out[:-1]


def _results(results: Optional[Mapping], where: str) -> List[str]:
    out = ["## Results on the dev test set", ""]
    if results is None:
        return out + ["No dev-test scores were packed with this system (pack it with --score_dir, as stage 9 does)."]
    boot = results.get("bootstrap") if isinstance(results.get("bootstrap"), Mapping) else None
    rows = []
    for _, label, value, _, interval in scores(results, where):
        rows.append((label, "not computed (no scored mixture)" if value is None else f"{value:.3f}", interval))
    n = results.get("n_mixtures", len(results.get("details", [])))
    out += ["| Metric | Value | 95 % interval |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    out += ["", f"Scored on {markdown_text(n)} soundscapes of the dev test set"
            + (f" ({markdown_text(results['n_scored_mixtures'])} with a CAPI-SDRi)" if "n_scored_mixtures" in results
               else "") + "; system name when scored: "
            + markdown_text((results.get("config") or {}).get("system", "not recorded")) + "."]
    if boot:
        out.append(f"Intervals: bootstrap over soundscapes, {markdown_text(boot.get('resamples', '?'))} resamples, "
                   f"seed {markdown_text(boot.get('seed', '?'))}, level {markdown_text(boot.get('level', '?'))}.")
    out.append("The full scores are packed as RESULTS.md and results.json.")
    return out


def _code(versions: Mapping[str, Optional[str]]) -> List[str]:
    rows = [(markdown_text(what), markdown_text(v) if v else "not recorded") for what, v in versions.items()]
    return ["## Code version", "", "Git commits of the dcase26t4 recipe (+dirty: with local changes).", ""] + \
        _table(rows, ("Step", "Code version"))


def _code_block(language: str, lines: Sequence[str]) -> List[str]:
    """A fenced code block whose fence is longer than any run of backticks in ``lines``."""
    runs = [len(r) for line in lines for r in re.findall("`+", line)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return [fence + language, *lines, fence]


def _usage(archive: str, hf_repo: Optional[str]) -> List[str]:
    ref = hf_repo or archive
    return (["## How to use", "", "In Python, with this recipe installed:", ""]
            + _code_block("python", ["from espnet2_ext.s5.api import S5Separate",
                                     f"sep = S5Separate.from_pretrained({json.dumps(ref)})",
                                     "events = sep(wave, sample_rate=32000)"])
            + ["", "Decode and score the dev test and eval sets with the recipe (in egs2/dcase26t4/s5; give the "
                   "archive's path):", ""]
            + _code_block("sh", [f"./run.sh --stage 7 --stop-stage 8 --packed_model {_shell_word(archive)}"]))


def _shell_word(text: str) -> str:
    """``text`` as one shell word inside a code block (single-quoted unless plain)."""
    plain = text and all(c.isalnum() or c in "._-/+=:@" for c in text)
    return text if plain else "'" + text.replace("'", "'\\''") + "'"


def _licence() -> List[str]:
    return ["## Licence", "",
            f"This system derives from the official DCASE2026 Task 4 baseline ({OFFICIAL_REPO}): its models, "
            "configs and training recipe are reimplemented from it. The official baseline is licensed under "
            "NTT's SOFTWARE LICENSE AGREEMENT FOR EVALUATION (LICENSE.pdf of that repository), which among other terms "
            "forbids selling, distributing or otherwise transferring the software to any third party and "
            "modifying it; read it before you use, share or publish this system.", "",
            "The tagger is built on the M2D weights of the nttcslab/m2d release v0.3.0 "
            f"({M2D_REPO}); they are not packed here. Their licence is not stated in the reference material of "
            "this recipe: check that repository."]


def _bibtex(text: str) -> List[str]:
    return ["## Citation", "", "If you use this system, cite the official baseline's papers (from its README):",
            ""] + _code_block("bibtex", [text])


def model_card(name: str, configs: Mapping[str, Mapping], sources: Mapping[str, str], digests: Mapping[str, str],
               m2d: Mapping[str, str], files: Mapping[str, str], archive: str,
               calibration: Optional[Mapping] = None, results: Optional[Mapping] = None,
               code_versions: Optional[Mapping[str, Optional[str]]] = None, hf_repo: Optional[str] = None,
               where: str = "results.json") -> str:
    """The README.md of a packed system.

    name: the system (the archive's stem); configs: ``{"tagger": ..., "separator": ...}`` (the packed
    config.yaml files); sources / digests: per model, the packed checkpoint's original path and sha256;
    m2d: the M2D weight reference (path, digest); files: meta.yaml's files; archive: the archive's file
    name (for the run.sh line); calibration: the packed calibration.json; results: the packed
    results.json (checked by ``espnet2_ext.s5.results.read_results_json``); code_versions: step ->
    git commit; hf_repo: the Hub repository it is uploaded to (the API call names it)."""
    header = yaml.safe_dump(metadata(name, results, where), sort_keys=False, allow_unicode=True)
    body = [f"# DCASE2026 Task 4 S5 system {markdown_text(name)}", ""]
    for part in (_system(name, configs, sources, digests, m2d, calibration, files), _configs(configs),
                 _results(results, where), _code(code_versions or {}), _usage(archive, hf_repo), _licence(),
                 _bibtex(CITATION)):
        body += part + [""]
    return f"---\n{header}---\n\n" + "\n".join(body)


def read_card(path: Path) -> Dict[str, object]:
    """The metadata header of a model card (``yaml.safe_load`` of the text between the ``---`` lines)."""
    text = Path(path).read_text(encoding="utf-8")
    if not text.startswith("---\n") or "\n---\n" not in text[4:]:
        raise S5InputError(f"{path}: no '---' metadata header: not a model card of stage 9")
    data = yaml.safe_load(text[4:text.index("\n---\n", 4) + 1])
    if not isinstance(data, dict):
        raise S5InputError(f"{path}: the metadata header is not a mapping")
    return data
