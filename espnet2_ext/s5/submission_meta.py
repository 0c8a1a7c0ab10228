"""The DCASE system meta-information file of a submission: ``<label>.meta.yaml``.

Every DCASE submission carries one meta file per system, in the challenge's common
layout (``submission`` / ``system`` / ``results``). :func:`build_meta` fills what the run
knows (label, author and affiliation from the label parts, parameter count, dev-test
results, the system's description); what only a person can fill (names, e-mail,
institute, source code address) is set to :data:`PLACEHOLDER` and listed by
:func:`placeholders`. :func:`validate_meta` checks a meta dict (built here or given by
the user with ``--meta_file``) before the package is written.
"""
from __future__ import annotations

from typing import List, Optional

from espnet2_ext.errors import S5InputError

PLACEHOLDER = "FILL ME"

#: dotted keys that must be present and non-empty
REQUIRED = (
    "submission.label", "submission.name", "submission.abbreviation", "submission.authors",
    "system.description.input_channels", "system.description.input_sampling_rate",
    "system.complexity.total_parameters",
    "results.development_dataset.capi_sdri", "results.development_dataset.accuracy_mixture",
    "results.development_dataset.accuracy_source",
)
AUTHOR_KEYS = ("lastname", "firstname", "email", "affiliation")


def build_meta(label: str, author: str, affiliation: str, nparams: int, dev_results: dict,
               system_name: Optional[str] = None) -> dict:
    """The meta dict of a recipe system (official-baseline architecture)."""
    acc = dev_results.get("label_metrics") or {}
    return {
        "submission": {
            "label": label,
            "name": system_name or "M2D tagger + ResUNetK separator (dcase26t4 recipe)",
            "abbreviation": "S5recipe",
            "authors": [{
                "lastname": author, "firstname": PLACEHOLDER, "email": PLACEHOLDER, "corresponding": True,
                "affiliation": {"abbreviation": affiliation, "institute": PLACEHOLDER,
                                "department": PLACEHOLDER, "location": PLACEHOLDER},
            }],
        },
        "system": {
            "description": {
                "input_channels": 4, "input_sampling_rate": "32kHz",
                "audio_tagging": "M2D (ViT-B, AudioSet fine-tuned) with a 3-slot head",
                "separation": "label-queried ResUNetK (FiLM), class-aware PIT SNR loss",
                "data_augmentation": "on-the-fly spatial synthesis of training mixtures",
                "external_data_usage": "official external data (Semantic Hearing, EARS) and M2D weights",
                "ensemble_num_subsystems": 1,
            },
            "complexity": {"total_parameters": int(nparams)},
            "source_code": PLACEHOLDER,
        },
        "results": {
            "development_dataset": {
                "capi_sdri": (dev_results.get("CAPI-SDRi") or {}).get("mean"),
                "accuracy_mixture": acc.get("accuracy_mix"),
                "accuracy_source": acc.get("accuracy_src"),
            },
        },
    }


def _get(meta: dict, dotted: str):
    node = meta
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def placeholders(meta: object, prefix: str = "") -> List[str]:
    """Dotted keys whose value is still :data:`PLACEHOLDER`."""
    if isinstance(meta, dict):
        return [k for key, v in meta.items() for k in placeholders(v, f"{prefix}.{key}" if prefix else str(key))]
    if isinstance(meta, list):
        return [k for i, v in enumerate(meta) for k in placeholders(v, f"{prefix}[{i}]")]
    return [prefix] if meta == PLACEHOLDER else []


def validate_meta(meta: object, label: str, source: str) -> None:
    """Stop with an error naming ``source`` and the key if a required field is missing or wrong."""
    if not isinstance(meta, dict):
        raise S5InputError(f"{source}: the meta file must be a YAML mapping (submission/system/results)")
    missing = [k for k in REQUIRED if _get(meta, k) in (None, "", [])]
    if missing:
        raise S5InputError(f"{source}: required field(s) missing or empty: {', '.join(missing)}")
    if _get(meta, "submission.label") != label:
        raise S5InputError(f"{source}: submission.label is {_get(meta, 'submission.label')!r} but the "
                           f"package is {label!r}; they must be equal")
    authors = _get(meta, "submission.authors")
    if not isinstance(authors, list) or not all(isinstance(a, dict) for a in authors):
        raise S5InputError(f"{source}: submission.authors must be a list of mappings ({', '.join(AUTHOR_KEYS)})")
    for i, a in enumerate(authors):
        absent = [k for k in AUTHOR_KEYS if a.get(k) in (None, "")]
        if absent:
            raise S5InputError(f"{source}: submission.authors[{i}] lacks {', '.join(absent)}")
    nparams = _get(meta, "system.complexity.total_parameters")
    if isinstance(nparams, bool) or not isinstance(nparams, int) or nparams <= 0:
        raise S5InputError(f"{source}: system.complexity.total_parameters must be a positive integer, got {nparams!r}")
    for key in ("capi_sdri", "accuracy_mixture", "accuracy_source"):
        value = _get(meta, f"results.development_dataset.{key}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise S5InputError(f"{source}: results.development_dataset.{key} must be a number, got {value!r}")
