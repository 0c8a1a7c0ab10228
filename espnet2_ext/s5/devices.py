"""The one device choice of the CLIs and the Python API (``auto``: CUDA when present)."""
from __future__ import annotations

from typing import Union

import torch

from espnet2_ext.errors import S5InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def pick_device(name: Union[str, torch.device], option: str = "--device") -> torch.device:
    """'auto' -> CUDA if available, else CPU; 'cuda' without CUDA is an S5InputError naming ``option``
    (a CLI flag ``--device`` or an API argument ``device``)."""
    if isinstance(name, torch.device):
        name = str(name)
    given = f"{option} {name}" if option.startswith("--") else f"{option}={name!r}"     # a flag or an argument
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise S5InputError(f"{given} requested but CUDA is not available here")
    try:
        return torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise S5InputError(f"{given} is not a device: use {' or '.join(DEVICE_CHOICES)}") from e
