"""Build a tagger or separator from any supported checkpoint file.

* official Lightning checkpoints (``m2dat_1c.ckpt``, ``m2dat_4c.ckpt``,
  ``resunetk.ckpt``: ``{"state_dict": {"model.<key>": ...}}``; the tagger also
  needs the official M2D weight file),
* our espnet2 model files (``exp/<tag>/valid.loss.best.pth``), rebuilt from the
  ``config.yaml`` beside them (or the one given).

A checkpoint of the wrong model (a tagger given as separator, ...) fails with
an error listing the mismatching keys.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Mapping, Optional, Union

import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import read_yaml_mapping
from espnet2_ext.s5.checkpoints import load_strict, read_checkpoint, state_dict_of
from espnet2_ext.s5.official import (DEFAULT_TAGGER_TYPE, M2D_WEIGHT_PATH, TAGGER_TYPES, TAGGER_VARIANTS, tagger_type,
                                     tagger_variant)

PathLike = Union[str, Path]


def tagger_type_arg(text: str) -> str:
    """'4c' or 'm2d_at_4c' -> 'm2d_at_4c' (argparse type of the CLIs' ``--tagger_type``)."""
    variant = tagger_variant(text)
    if variant is None:
        raise argparse.ArgumentTypeError(f"unknown tagger variant {text!r}: use {' or '.join(TAGGER_VARIANTS)}")
    return tagger_type(variant)


def is_lightning(ckpt: dict) -> bool:
    """True for an official Lightning checkpoint (``state_dict`` with ``model.`` keys)."""
    sd = ckpt.get("state_dict")
    return isinstance(sd, dict) and any(k.startswith("model.") for k in sd)


def config_path(model_file: Path, config: Optional[PathLike]) -> Path:
    """``config``, or the ``config.yaml`` beside an espnet2 model file."""
    return Path(config) if config else model_file.resolve().parent / "config.yaml"


def espnet_config(model_file: Path, config: Optional[PathLike],
                  conf_updates: Optional[Mapping[str, dict]] = None) -> argparse.Namespace:
    """The training config of an espnet2 model file (``config.yaml`` beside it by default),
    with ``conf_updates`` merged into its ``*_conf`` mappings (e.g. ``{"tagger_conf": {...}}``)."""
    path = config_path(model_file, config)
    if not path.is_file():
        raise S5InputError(
            f"{model_file} looks like an espnet2 model file but {path} is missing; "
            f"pass the training config.yaml of that model")
    conf = read_yaml_mapping(path, "training config", f"it should be the config.yaml written with {model_file}")
    for name, update in (conf_updates or {}).items():
        conf[name] = {**(conf.get(name) or {}), **update}
    return argparse.Namespace(**conf)


def load_espnet_submodule(model_file: Path, ckpt: dict, config: Optional[PathLike], task, attr: str,
                          expected: str, conf_updates: Optional[Mapping[str, dict]] = None) -> torch.nn.Module:
    """Rebuild the espnet2 model of ``task`` and return its ``attr`` sub-module, loaded strictly.

    ``ckpt`` is the content of ``model_file`` (already read by the caller); ``conf_updates``:
    see :func:`espnet_config`.
    """
    args = espnet_config(model_file, config, conf_updates)
    if not hasattr(args, attr):   # e.g. a tagger's model file given as the separator
        kind = next((k for k in ("tagger", "separator") if hasattr(args, k)), "different")
        raise S5InputError(
            f"{model_file} is not {expected}: its config {config_path(model_file, config)} is that "
            f"of a {kind} model (no '{attr}' entry); give the model file of {expected} "
            f"(e.g. exp/<{attr} experiment>/valid.loss.best.pth)")
    try:
        model = task.build_model(args)
    except S5InputError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise S5InputError(f"cannot build the model of {config_path(model_file, config)}: "
                           f"{type(e).__name__}: {e} (a key with a wrong name, type or value?)") from e
    load_strict(model, state_dict_of(ckpt, str(model_file)), str(model_file), expected)
    return getattr(model, attr)


def load_tagger(path: PathLike, tagger_type: str = DEFAULT_TAGGER_TYPE, m2d_weight_file: Optional[PathLike] = None,
                config: Optional[PathLike] = None, espnet_weight_file: Optional[PathLike] = None) -> torch.nn.Module:
    """A tagger (``tagger(mixture) -> logits [B, 3, 19]``) in eval mode, on CPU.

    ``m2d_weight_file``: the M2D weights of an official checkpoint. ``espnet_weight_file``: build
    an espnet2 model file on this M2D weight file instead of its config's ``tagger_conf.weight_file``
    (a packed system unpacked away from the recipe folder)."""
    from espnet2_ext.s5.tagger import load_official_tagger

    path = Path(path)
    ckpt = read_checkpoint(path)
    if is_lightning(ckpt):
        if tagger_type not in TAGGER_TYPES:
            raise S5InputError(f"--tagger_type must be one of {TAGGER_TYPES}, got {tagger_type!r}")
        if m2d_weight_file is None:
            raise S5InputError(f"{path} is an official tagger checkpoint: also pass --m2d_weight_file "
                               f"({M2D_WEIGHT_PATH})")
        tagger = load_official_tagger(path, m2d_weight_file, tagger_type, ckpt=ckpt)
    else:
        from espnet2_ext.tasks.s5_tag import S5TaggingTask
        updates = {"tagger_conf": {"weight_file": str(espnet_weight_file)}} if espnet_weight_file else None
        tagger = load_espnet_submodule(path, ckpt, config, S5TaggingTask, "tagger", "an S5 tagger model", updates)
    return tagger.eval()


def load_separator(path: PathLike, config: Optional[PathLike] = None) -> torch.nn.Module:
    """A separator (``separator.separate(mixture, query) -> [B, 3, 1, T]``) in eval mode, on CPU."""
    from espnet2_ext.s5.separator import load_official_separator

    path = Path(path)
    ckpt = read_checkpoint(path)
    if is_lightning(ckpt):
        sep = load_official_separator(path, ckpt=ckpt)
    else:
        from espnet2_ext.tasks.s5_sep import S5SeparationTask
        sep = load_espnet_submodule(path, ckpt, config, S5SeparationTask, "separator",
                                    "an S5 separator model")
    return sep.eval()
