"""Fabricated S5 model files for decoding tests (no training needed).

* official Lightning checkpoints: ``{"state_dict": {"model.<key>": tensor}}`` of
  M2dAt / M2dAtSpatial (built from an M2D weight file) and of ResUNet30;
* our espnet2 model files: ``<dir>/config.yaml`` + ``<dir>/valid.loss.best.pth``,
  the config parsed by the task's own parser from a recipe YAML (``conf/mini/*.yaml``)
  and the model made by the task's ``build_model``.

``force_slot_labels`` sets the tagger's last biases so that its slots predict given
labels whatever the input (random weights otherwise give arbitrary labels).

Import from another test folder with ``sys.path.insert(0, <repo>/tests/recipe)``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import torch
import yaml

from espnet2_ext.fileio import write_torch
from espnet2_ext.s5.labels import LABELS_WITH_SILENCE
from espnet2_ext.s5.official import DEFAULT_TAGGER_VARIANT

PathLike = Union[str, Path]
MODEL_FILE = "valid.loss.best.pth"
TINY_M2D = dict(embed_dim=64, depth=2, num_heads=2)     # fast CPU ViT


def force_slot_labels(tagger: torch.nn.Module, labels: Sequence[str], logit: float = 8.0) -> None:
    """Make slot i of ``tagger`` predict ``labels[i]``: bias ``logit`` on that class.

    The rest of the last layer keeps its (small random) weights, so probabilities stay
    input-dependent but the argmax does not."""
    head = tagger.head
    with torch.no_grad():
        for track, label in zip(head.tracks, labels):
            last = track[-1] if isinstance(track, torch.nn.Sequential) else track
            last.bias.zero_()
            last.bias[LABELS_WITH_SILENCE.index(label)] = logit


def official_tagger(weight_file: PathLike, variant: str = DEFAULT_TAGGER_VARIANT,
                    labels: Optional[Sequence[str]] = None, seed: int = 0) -> torch.nn.Module:
    """A seeded M2dAt (1c) / M2dAtSpatial (4c) in eval mode, slots forced to ``labels``."""
    from espnet2_ext.s5.tagger.m2d_tagger import VARIANTS

    torch.manual_seed(seed)
    tagger = VARIANTS[variant](weight_file)
    if labels is not None:
        force_slot_labels(tagger, labels)
    return tagger.eval()


def official_separator(seed: int = 0, **kwargs) -> torch.nn.Module:
    """A seeded ResUNet30 (official width unless ``base_channels`` is given), eval mode."""
    from espnet2_ext.s5.separator import ResUNet30

    torch.manual_seed(seed)
    return ResUNet30(**kwargs).eval()


def write_lightning_checkpoint(path: PathLike, model: torch.nn.Module) -> Path:
    """Save ``model`` as an official Lightning checkpoint (keys ``model.<key>``)."""
    sd = {f"model.{k}": v for k, v in model.state_dict().items()}
    write_torch(path, {"epoch": 0, "global_step": 0, "state_dict": sd})
    return Path(path)


def espnet_args(task, recipe_yaml: PathLike, output_dir: PathLike, **conf_updates):
    """Parse ``recipe_yaml`` with the task's parser; ``conf_updates`` update the nested
    ``*_conf`` dicts, e.g. ``tagger_conf={"weight_file": "..."}``."""
    args = task.get_parser().parse_args(["--config", str(recipe_yaml), "--output_dir", str(output_dir)])
    for name, update in conf_updates.items():
        getattr(args, name).update(update)
    return args


def write_espnet_model_file(task, recipe_yaml: PathLike, output_dir: PathLike, seed: int = 0,
                            labels: Optional[Sequence[str]] = None, **conf_updates) -> Path:
    """``output_dir/{config.yaml, valid.loss.best.pth}`` of a freshly built (seeded) model.

    ``labels``: force the tagger's slots (tagging task only)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    args = espnet_args(task, recipe_yaml, output_dir, **conf_updates)
    torch.manual_seed(seed)
    model = task.build_model(args)
    if labels is not None:
        force_slot_labels(model.tagger, labels)
    (output_dir / "config.yaml").write_text(yaml.safe_dump(vars(args), sort_keys=False))
    write_torch(output_dir / MODEL_FILE, model.state_dict())
    return output_dir / MODEL_FILE
