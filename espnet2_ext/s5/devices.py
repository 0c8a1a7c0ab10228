"""Where and in what precision the models run: the one device choice of the CLIs and the Python
API (``auto``: CUDA when present) and the decoding precisions (``fp32``, opt-in ``bf16``)."""
from __future__ import annotations

import contextlib
from typing import ContextManager, Union

import torch

from espnet2_ext.errors import S5InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")
#: the decoding precisions (``fp32`` is the default and the official arithmetic)
PRECISIONS = ("fp32", "bf16")


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


def check_precision(name: str, option: str = "--precision") -> str:
    """``name`` if it is one of PRECISIONS, else an S5InputError naming ``option``."""
    if name not in PRECISIONS:
        given = f"{option} {name}" if option.startswith("--") else f"{option}={name!r}"
        raise S5InputError(f"{given}: give one of {', '.join(PRECISIONS)} (fp32 is the official arithmetic)")
    return name


def precision_context(precision: str, device: torch.device) -> ContextManager:
    """The autocast of ``precision`` on ``device``: none for fp32, bfloat16 autocast for bf16 (the
    models keep their float32 islands: features, STFT, masking, ISTFT)."""
    if check_precision(precision, "precision") == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 if it is a half type (float16, bfloat16), else unchanged: float32 and
    float64 stay as they are (``.float()`` would round a float64 model down)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
