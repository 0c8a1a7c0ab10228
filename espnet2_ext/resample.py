"""The package's one resampler of audio arrays: soxr HQ with a fixed output length."""
from __future__ import annotations

from typing import Optional

import numpy as np


def soxr_resample(audio: np.ndarray, sr: int, target_sr: int, n_out: Optional[int] = None) -> np.ndarray:
    """soxr HQ resampling of ``audio`` [T] or [T, C] along time, cut or zero-padded to ``n_out``
    samples (default: librosa's length, ceil(T * target_sr / sr))."""
    import soxr

    if n_out is None:
        n_out = int(np.ceil(audio.shape[0] * target_sr / sr))
    out = audio if sr == target_sr else soxr.resample(audio, sr, target_sr, quality="HQ")
    if out.shape[0] < n_out:
        out = np.pad(out, [(0, n_out - out.shape[0])] + [(0, 0)] * (out.ndim - 1))
    return out[:n_out]
