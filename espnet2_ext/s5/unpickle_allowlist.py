"""What a model-like file may contain: the allow-list of torch's weights-only unpickler.

A ``.pth`` / ``.ckpt`` file is a pickle, and a pickle names Python callables that the
loader calls (``os.system``, ``subprocess.run``, ...): loading an untrusted file with
``torch.load(weights_only=False)`` runs whatever it asks for. We always load with
``weights_only=True``, whose unpickler builds only tensors, plain containers and
numbers, and the few extra globals of :data:`MODEL_FILE_GLOBALS`, found by experiment
on every kind of file we read:

* official Lightning checkpoints (``m2dat_*.ckpt``, ``resunetk.ckpt``: ``state_dict``,
  ``epoch``, ``global_step``, ``pytorch-lightning_version``, ``loops``, ``callbacks``
  with ModelCheckpoint / EarlyStopping states holding tensors, ``optimizer_states``,
  ``lr_schedulers``), the M2D weight file (a flat dict of tensors, or ``{"model": ...}``)
  and our ``<N>epoch.pth`` model files need nothing beyond torch's defaults;
* espnet2's training state ``checkpoint.pth`` (model, optimizers, schedulers, scaler,
  reporter) needs two more kinds of values, both in the reporter's statistics:
  ``datetime.timedelta`` (epoch times) and numpy scalars (``np.float64(...)`` means of
  iteration times). numpy scalars are pickled as ``numpy._core.multiarray.scalar(
  numpy.dtype(...), <raw bytes>)`` (``numpy.core`` before numpy 2); rather than
  allow-listing numpy's own functions (which accept any dtype, object dtypes included),
  those names are mapped to :class:`NumpyDType` and :func:`numpy_scalar`, which rebuild
  only plain numeric scalars (bool, int, uint, float, complex) from their bytes.

Anything else (a class, a function, a numpy array, ``argparse.Namespace``) is refused;
:func:`refused_global` extracts what was refused from torch's error.
"""
from __future__ import annotations

import _compat_pickle
import datetime
import pickle
import re
from typing import Callable, List, Optional, Tuple, Union

import numpy as np

#: numpy dtype kinds a scalar may have: bool, signed/unsigned int, float, complex
NUMERIC_KINDS = "biufc"
#: byte orders in a pickled dtype's state: little, big, not applicable, native
BYTE_ORDERS = ("<", ">", "|", "=")


class NumpyDType:
    """Stands in for ``numpy.dtype`` while unpickling: only plain numeric dtypes.

    ``numpy.dtype(spec, align, copy)`` is followed by a ``BUILD`` with the dtype's state
    ``(version, byteorder, subarray, names, fields, elsize, alignment, flags)``; only the
    byte order of a plain dtype is taken from it.
    """

    def __init__(self, spec: object, align: object = False, copy: object = True) -> None:
        try:
            dtype = np.dtype(spec) if isinstance(spec, str) else None
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in NUMERIC_KINDS or dtype.fields or dtype.subdtype:
            raise pickle.UnpicklingError(f"Unsupported global: GLOBAL numpy.dtype (dtype {spec!r}; only numeric "
                                         f"numpy scalars may be loaded)")
        self.dtype = dtype

    def __setstate__(self, state: object) -> None:
        if not (isinstance(state, tuple) and len(state) == 8 and state[1] in BYTE_ORDERS
                and state[2:5] == (None, None, None)):
            raise pickle.UnpicklingError(f"Unsupported global: GLOBAL numpy.dtype with state {state!r} "
                                         f"(only plain numeric dtypes may be loaded)")
        if state[1] in "<>":
            self.dtype = self.dtype.newbyteorder(state[1])


def numpy_scalar(dtype: object, data: object = None) -> np.generic:
    """Stands in for ``numpy.core.multiarray.scalar``: a numeric numpy scalar from its bytes."""
    if not isinstance(dtype, NumpyDType) or not isinstance(data, bytes) or len(data) != dtype.dtype.itemsize:
        raise pickle.UnpicklingError("Unsupported global: GLOBAL numpy._core.multiarray.scalar with arguments "
                                     "other than a numeric dtype and its bytes")
    return np.frombuffer(data, dtype=dtype.dtype)[0]


#: what ``torch.serialization.safe_globals`` gets, beside torch's own defaults
MODEL_FILE_GLOBALS: List[Union[Callable, Tuple[Callable, str]]] = [
    datetime.timedelta,
    (NumpyDType, "numpy.dtype"),
    (numpy_scalar, "numpy._core.multiarray.scalar"),    # numpy >= 2
    (numpy_scalar, "numpy.core.multiarray.scalar"),     # numpy 1.x
]

#: how torch's weights-only unpickler names what it refused (``GLOBAL x.y``, ``but got <class ...>``,
#: ``unrecognized function ...``)
_REFUSED = (re.compile(r"GLOBAL (\S+)"), re.compile(r"but got (<class '[^']+'>|\S+)"),
            re.compile(r"unrecognized function (\S+)"))


def refused_global(error: BaseException) -> Optional[str]:
    """The global (module.name) or type that torch's weights-only unpickler refused, if the
    error is such a refusal (None for other errors: truncated file, not a PyTorch file, ...)."""
    message = str(error)
    for pattern in _REFUSED:
        match = pattern.search(message)
        if match:
            return python3_name(match.group(1).strip("<>").replace("class ", "").strip("'"))
    return None


def python3_name(full_name: str) -> str:
    """The Python 3 name of a global as a protocol-2 pickle spells it (``commands.call`` is
    ``subprocess.call``): what Python's own unpickler would import."""
    module, _, name = full_name.rpartition(".")
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return ".".join(_compat_pickle.NAME_MAPPING[(module, name)])
    return f"{_compat_pickle.IMPORT_MAPPING.get(module, module)}.{name}" if module else full_name


def unpickler_reason(error: BaseException) -> str:
    """torch's weights-only error without its advice to load unsafely: the unpickler's own words."""
    message = str(error)
    if "WeightsUnpickler error:" in message:
        message = message.split("WeightsUnpickler error:", 1)[1]
    message = message.split("Check the documentation of torch.load", 1)[0]
    lines = [line.strip() for line in message.splitlines() if line.strip() and "weights_only" not in line]
    return " ".join(lines) or type(error).__name__
