"""Reading checkpoint files and strict loading with clear errors.

Formats handled here (format-specific loaders build on these):
  * official Lightning checkpoints (``m2dat_1c.ckpt``, ``resunetk.ckpt``):
    ``{"state_dict": {"model.<key>": tensor, ...}, ...}``
  * our espnet2 model files (``*.pth``): a flat state dict of the espnet model
  * plain state dicts

Every model-like file we read (these, the M2D weight file, espnet2's ``checkpoint.pth``
on resume, ``--init_param`` files) goes through :func:`load_torch_file`: loading never
runs code from the file (see :mod:`espnet2_ext.s5.unpickle_allowlist`).
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import IO, Any, Dict, Mapping, Optional, Union

import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.unpickle_allowlist import MODEL_FILE_GLOBALS, refused_global, unpickler_reason

StateDict = Dict[str, torch.Tensor]


class RefusedModelFile(S5InputError):
    """A model-like file that asks for a Python global outside the allow-list (it could run code)."""


def load_torch_file(f: Union[str, os.PathLike, IO[bytes]], map_location: Any = "cpu") -> Any:
    """``torch.load(f, weights_only=True)`` with :data:`MODEL_FILE_GLOBALS` allowed, and nothing else.

    A file that needs any other global is refused with :class:`RefusedModelFile` naming the
    file and the global, before anything from it runs. Other errors (missing, truncated, not
    a PyTorch file) are torch's own, for the caller to word.
    """
    try:
        with torch.serialization.safe_globals(MODEL_FILE_GLOBALS):
            return torch.load(f, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        what = refused_global(e)
        if what is None:
            raise pickle.UnpicklingError(unpickler_reason(e)) from None
        name = f if isinstance(f, (str, os.PathLike)) else getattr(f, "name", "the model file")
        raise RefusedModelFile(
            f"refused to load {name}: it asks for the Python object {what!r}, which no model file "
            f"needs (loading it could run code). Use model files only from sources you trust; if "
            f"this one should be a checkpoint, get it again from its source") from None


def read_checkpoint(path: Union[str, Path]) -> dict:
    """Load ``path`` on CPU (:func:`load_torch_file`) with a clear error when missing,
    unreadable, unsafe or not a dict."""
    p = Path(path)
    if not p.is_file():
        raise S5InputError(f"checkpoint not found: {p}")
    try:
        ckpt = load_torch_file(str(p))
    except RefusedModelFile:
        raise
    except Exception as e:
        raise S5InputError(f"cannot read checkpoint {p}: {e}. Is it a complete PyTorch file?") from e
    if not isinstance(ckpt, Mapping):
        raise S5InputError(f"{p} is not a checkpoint: it holds a {type(ckpt).__name__}, not a dict of "
                           f"tensors; give a model file (e.g. exp/<tag>/valid.loss.best.pth or an official .ckpt)")
    return dict(ckpt)


#: keys of espnet2's training state (checkpoint.pth), which is not a model file
TRAINING_STATE_KEYS = ("model", "optimizers", "reporter")


def state_dict_of(ckpt: Mapping, source: str = "the checkpoint") -> StateDict:
    """The tensor dict inside a checkpoint (Lightning ``state_dict`` or plain), checked:
    every value must be a tensor (``source`` names the file in the error)."""
    if "state_dict" in ckpt:
        if not isinstance(ckpt["state_dict"], Mapping):
            raise S5InputError(f"{source}: 'state_dict' is a {type(ckpt['state_dict']).__name__}, not a dict "
                               f"of tensors; the file is damaged or not a model checkpoint")
        sd = dict(ckpt["state_dict"])
    else:
        if all(k in ckpt for k in TRAINING_STATE_KEYS):
            raise S5InputError(f"{source} is espnet2's training state (checkpoint.pth), not a model file: "
                               f"give <exp>/valid.loss.best.pth (or another <N>epoch.pth) instead")
        sd = dict(ckpt)
    bad = next((k for k, v in sd.items() if not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise S5InputError(f"{source}: entry {bad!r} is a {type(sd[bad]).__name__}, not a tensor; "
                           f"the file is not a model checkpoint (or it is damaged)")
    return sd


def strip_prefix(sd: Mapping[str, torch.Tensor], prefix: str) -> StateDict:
    """Drop ``prefix`` from every key that has it (others are kept unchanged)."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in sd.items()}


def find_prefix(sd: Mapping[str, torch.Tensor], model_keys) -> str:
    """The prefix that maps checkpoint keys onto ``model_keys`` (official suffix match).

    Looks for a checkpoint key ending with the model's first key and returns what
    precedes it (e.g. ``"model."`` for Lightning files), or ``""``.
    """
    model_keys = list(model_keys)
    if not model_keys:
        return ""
    first = model_keys[0]
    for k in sd:
        if k.endswith(first):
            return k[: len(k) - len(first)]
    return ""


def load_strict(model: torch.nn.Module, sd: Mapping[str, torch.Tensor], source: str,
                expected: Optional[str] = None) -> None:
    """``model.load_state_dict(sd, strict=True)`` with an error that lists the mismatch.

    ``source`` names the file (for the message); ``expected`` says what kind of
    checkpoint the model wanted (e.g. "a ResUNetK separator checkpoint").
    """
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shape = [f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shape:
        def few(xs):
            return ", ".join(xs[:8]) + (f", ... ({len(xs)} in all)" if len(xs) > 8 else "")
        parts = []
        if missing:
            parts.append(f"missing keys: {few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {few(unexpected)}")
        if shape:
            parts.append(f"shape mismatches: {few(shape)}")
        want = f"; expected {expected}" if expected else ""
        raise S5InputError(
            f"checkpoint {source} does not match {type(model).__name__}{want}: " + "; ".join(parts)
        )
    model.load_state_dict(dict(sd), strict=True)
