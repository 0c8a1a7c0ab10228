"""Source clips for the synthesizer: header-checked, resampled, cached reads."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import soundfile as sf

from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import check_wav
from espnet2_ext.synth.room import ByteLru, resample


class SourceLoader:
    """Reads clips like ``librosa.load(offset, duration, sr, mono)`` with header and LRU caches."""

    def __init__(self, cache_mb: float = 256):
        self._info: Dict[str, sf._SoundFileInfo] = {}
        self._cache = ByteLru(int(cache_mb * 2 ** 20))

    def info(self, path: Path):
        key = str(path)
        if key not in self._info:
            self._info[key] = check_wav(path, what="audio file", missing_hint=(
                "the scene refers to a file that is not in the corpus (re-run stages 1-2, or fix "
                "the metadata)"))
        return self._info[key]

    def duration(self, path: Path) -> float:
        """File duration in seconds at its native rate."""
        i = self.info(path)
        return i.frames / i.samplerate

    def read(self, path: Path, offset: Optional[float], duration: Optional[float], sr: int,
             mono: bool, peak_normalise: bool = False) -> np.ndarray:
        """[C, n] (or [n] if mono) float32 at ``sr``; samples int(offset*sr0) .. +int(duration*sr0).

        With ``peak_normalise`` the result is divided by max|x| (all-zero clips: warning, unchanged).
        """
        key = (str(path), offset, duration, sr, mono, peak_normalise)

        def make():
            x = self._read(path, offset, duration, sr, mono)
            return _peak_normalise(x, str(path)) if peak_normalise else x

        return self._cache.get_or_make(key, make)

    def _read(self, path, offset, duration, sr, mono) -> np.ndarray:
        sr0 = self.info(path).samplerate
        start = int(offset * sr0) if offset else 0
        frames = int(duration * sr0) if duration is not None else -1
        try:
            data, _ = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
        except Exception as e:
            raise S5InputError(f"cannot read audio file {path}: {e}") from e
        x = data.T.astype(np.float64)
        if mono:
            x = x.mean(axis=0)
        x = resample(x, sr0, sr).astype(np.float32)  # float32 like librosa.load
        if not np.isfinite(x).all():
            raise S5InputError(f"audio file {path} contains NaN or Inf samples")
        return x


def _peak_normalise(x: np.ndarray, name: str) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0.0:
        warnings.warn(f"source {name} is all zeros: it adds nothing to the mixture")
        return x
    return x / np.float32(peak)
