"""Real FFTs along the last axis; on the CPU through MKL descriptors committed once per shape.

torch.fft on the CPU creates and commits a new MKL DFTI descriptor at every call
(aten/src/ATen/native/mkl/SpectralOps.cpp). For the renderer's rows of 524,288 points the
commit (twiddle tables, algorithm choice) took 2-6 ms here, more than the transform itself
(about 1 ms a row in a batch): about a quarter of rendering time went to commits. :func:`rfft` and
:func:`irfft` keep the committed descriptors of the shapes they meet (a small LRU per thread;
a forked child commits its own) and call MKL through ctypes, on the DFTI symbols that torch's
own CPU library exports. The descriptors are configured as torch configures its own (out of place,
conjugate-even storage as complex values, backward scale 1/n, the caller's torch thread count),
so the results of contiguous rows are torch's to the bit (a check at first use, and tests,
compare them; other layouts are copied to rows first, which torch does not, and agree within
float32 rounding).

Anywhere else, torch.fft does the work: tensors not on the CPU or not float32/complex64, a
torch built without MKL (ARM, macOS), or a first-use check that failed.
"""
from __future__ import annotations

import collections
import ctypes
import logging
import os
import threading
from pathlib import Path
from typing import Optional, Tuple

import torch

logger = logging.getLogger(__name__)

# DFTI configuration parameters and values (mkl_dfti.h)
_FORWARD_DOMAIN_REAL = 33
_NUMBER_OF_TRANSFORMS, _INPUT_DISTANCE, _OUTPUT_DISTANCE = 7, 14, 15
_CONJUGATE_EVEN_STORAGE, _COMPLEX_COMPLEX = 10, 39
_PLACEMENT, _NOT_INPLACE = 11, 44
_BACKWARD_SCALE, _THREAD_LIMIT = 5, 27

#: committed descriptors kept per thread (about 4.3 MB each for 524,288 points): the official
#: separator settings use 8 shapes (forward 1-5 rows, inverse 5-7)
MAX_PLANS = 8


class _Dfti:
    """The DFTI entry points of torch's CPU library, and an LRU of committed descriptors."""

    def __init__(self, lib: ctypes.CDLL):
        self.lib = lib
        handle = ctypes.c_void_p
        lib.DftiCreateDescriptor_s_1d.argtypes = [ctypes.POINTER(handle), ctypes.c_int, ctypes.c_long]
        lib.DftiFreeDescriptor.argtypes = [ctypes.POINTER(handle)]
        lib.DftiCommitDescriptor.argtypes = [handle]
        lib.DftiComputeForward.argtypes = [handle, ctypes.c_void_p, ctypes.c_void_p]
        lib.DftiComputeBackward.argtypes = [handle, ctypes.c_void_p, ctypes.c_void_p]
        lib.DftiErrorMessage.argtypes = [ctypes.c_long]
        lib.DftiErrorMessage.restype = ctypes.c_char_p
        for name in ("DftiCreateDescriptor_s_1d", "DftiFreeDescriptor", "DftiCommitDescriptor",
                     "DftiComputeForward", "DftiComputeBackward", "DftiSetValue"):
            getattr(lib, name).restype = ctypes.c_long
        self._local = threading.local()

    @property
    def plans(self) -> "collections.OrderedDict[tuple, ctypes.c_void_p]":
        """This thread's committed descriptors (an LRU): a thread evicts only its own, never one
        that another thread is computing with."""
        if not hasattr(self._local, "plans"):
            self._local.plans = collections.OrderedDict()
        return self._local.plans

    def check(self, status: int) -> None:
        if status != 0:
            raise RuntimeError(f"MKL DFTI: {self.lib.DftiErrorMessage(status).decode(errors='replace')}")

    def plan(self, forward: bool, n: int, rows: int) -> ctypes.c_void_p:
        """The committed descriptor of ``rows`` real transforms of length n (forward: real ->
        complex, rows n and n//2+1 apart; backward: the inverse, scaled by 1/n)."""
        threads, plans = torch.get_num_threads(), self.plans
        key = (os.getpid(), forward, n, rows, threads)          # a forked child commits its own
        if key in plans:
            plans.move_to_end(key)
            return plans[key]
        handle, lib, half = ctypes.c_void_p(), self.lib, n // 2 + 1
        self.check(lib.DftiCreateDescriptor_s_1d(ctypes.byref(handle), _FORWARD_DOMAIN_REAL, n))
        try:
            for param, value in ((_PLACEMENT, ctypes.c_int(_NOT_INPLACE)),
                                 (_CONJUGATE_EVEN_STORAGE, ctypes.c_int(_COMPLEX_COMPLEX)),
                                 (_NUMBER_OF_TRANSFORMS, ctypes.c_long(rows)),
                                 (_INPUT_DISTANCE, ctypes.c_long(n if forward else half)),
                                 (_OUTPUT_DISTANCE, ctypes.c_long(half if forward else n)),
                                 (_BACKWARD_SCALE, ctypes.c_double(1.0 / n)),
                                 (_THREAD_LIMIT, ctypes.c_int(threads))):
                self.check(lib.DftiSetValue(handle, ctypes.c_int(param), value))
            self.check(lib.DftiCommitDescriptor(handle))
        except RuntimeError:
            lib.DftiFreeDescriptor(ctypes.byref(handle))
            raise
        plans[key] = handle
        while len(plans) > MAX_PLANS:
            _, old = plans.popitem(last=False)
            lib.DftiFreeDescriptor(ctypes.byref(old))
        return handle

    def run(self, forward: bool, n: int, rows: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        compute = self.lib.DftiComputeForward if forward else self.lib.DftiComputeBackward
        self.check(compute(self.plan(forward, n, rows.shape[0]), rows.data_ptr(), out.data_ptr()))
        return out


_state: dict = {}


def _dfti() -> Optional[_Dfti]:
    """The DFTI wrapper, or None where torch.fft must do the work (found out once a process)."""
    if "dfti" not in _state:
        _state["dfti"] = _load()
    return _state["dfti"]


def _load() -> Optional[_Dfti]:
    if not torch.backends.mkl.is_available():
        return None
    try:
        dfti = _Dfti(ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so")))
        probe = torch.randn(3, 96, generator=torch.Generator().manual_seed(0))
        spectra = dfti.run(True, 96, probe, torch.empty(3, 49, dtype=torch.complex64))
        back = dfti.run(False, 96, spectra, torch.empty(3, 96))
        if torch.equal(spectra, torch.fft.rfft(probe)) and torch.equal(back, torch.fft.irfft(spectra, n=96)):
            return dfti
        logger.warning("MKL DFTI through ctypes differs from torch.fft here; using torch.fft")
    except (OSError, AttributeError, RuntimeError) as e:
        logger.warning("MKL DFTI through ctypes is not usable here (%s); using torch.fft", e)
    return None


def _rows(x: torch.Tensor, length: int, dtype: torch.dtype) -> Optional[Tuple[torch.Tensor, torch.Size]]:
    """x [..., m] as contiguous rows [R, length] (cut or zero-padded along the last axis, as
    torch.fft does with ``n``) and the leading shape; None where the MKL path does not apply."""
    if (x.device.type != "cpu" or x.dtype != dtype or x.dim() == 0 or x.numel() == 0 or x.requires_grad
            or _dfti() is None):
        return None
    lead = x.shape[:-1]
    rows = x.reshape(-1, x.shape[-1])
    if rows.shape[1] != length:
        padded = torch.zeros((rows.shape[0], length), dtype=dtype)
        m = min(length, rows.shape[1])
        padded[:, :m] = rows[:, :m]
        rows = padded
    return rows.resolve_conj().resolve_neg().contiguous(), lead


def rfft(x: torch.Tensor, n: int, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``torch.fft.rfft(x, n=n)`` along the last axis: x [..., m] real -> [..., n//2+1] complex
    (into ``out``, a contiguous tensor of that shape, where given)."""
    prepared = _rows(x, n, torch.float32)
    if prepared is None:
        return torch.fft.rfft(x, n=n) if out is None else torch.fft.rfft(x, n=n, out=out)
    rows, lead = prepared
    shape = (rows.shape[0], n // 2 + 1)
    result = torch.empty(shape, dtype=torch.complex64) if out is None else _checked(out, shape, torch.complex64)
    return _dfti().run(True, n, rows, result).reshape(*lead, n // 2 + 1)


def irfft(spectra: torch.Tensor, n: int, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``torch.fft.irfft(spectra, n=n)`` along the last axis: [..., n//2+1] complex -> [..., n]
    real (into ``out``, a contiguous tensor of that shape, where given)."""
    prepared = _rows(spectra, n // 2 + 1, torch.complex64)
    if prepared is None:
        return torch.fft.irfft(spectra, n=n) if out is None else torch.fft.irfft(spectra, n=n, out=out)
    rows, lead = prepared
    result = torch.empty((rows.shape[0], n)) if out is None else _checked(out, (rows.shape[0], n), torch.float32)
    return _dfti().run(False, n, rows, result).reshape(*lead, n)


def _checked(out: torch.Tensor, rows_shape: Tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
    """``out`` seen as rows of the transform's output, after checking what MKL will write."""
    if not out.is_contiguous() or out.dtype != dtype or out.numel() != rows_shape[0] * rows_shape[1]:
        raise ValueError(f"out must be a contiguous {dtype} tensor of {rows_shape[0] * rows_shape[1]} elements, "
                         f"got {out.dtype} {tuple(out.shape)} (contiguous: {out.is_contiguous()})")
    return out.view(rows_shape)
