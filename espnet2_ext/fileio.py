"""Audio and file I/O with clear errors and atomic writes.

Every writer goes through :func:`atomic_path`: data is written to a temporary
file in the destination folder and renamed into place, so an interrupted run
never leaves a truncated file under the final name.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator, Optional, Tuple, Union

import numpy as np
import soundfile as sf

from espnet2_ext.errors import S5InputError

PathLike = Union[str, os.PathLike]
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: PathLike, suffix: Optional[str] = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix + ".part",
        dir=path.parent,
    )
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_wav(path: PathLike, wav: np.ndarray, sr: int, subtype: str = "FLOAT") -> None:
    """Atomically write ``wav`` ([T] or [C, T], channels first) as a WAV file."""
    wav = np.asarray(wav)
    data = wav.T if wav.ndim == 2 else wav
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(str(tmp), data, sr, subtype=subtype, format="WAV")


def write_json(path: PathLike, obj: object, indent: int = 2) -> None:
    """Atomically write ``obj`` as JSON."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=indent)
            f.write("\n")


def read_wav(
    path: PathLike,
    sr: Optional[int] = None,
    channels: Optional[int] = None,
    what: str = "audio file",
    dtype: str = "float32",
) -> Tuple[np.ndarray, int]:
    """Read a WAV as [C, T] (always 2-D) and check it.

    Raises S5InputError naming ``path`` when the file is missing, unreadable,
    empty, has non-finite samples, or has the wrong sample rate or channel count.
    """
    p = Path(path)
    if not p.is_file():
        raise S5InputError(f"{what} not found: {p}")
    try:
        data, file_sr = sf.read(str(p), dtype=dtype, always_2d=True)
    except Exception as e:  # libsndfile errors for corrupt/truncated files
        raise S5InputError(f"cannot read {what} {p}: {e}. Re-create or re-download the file.") from e
    if data.shape[0] == 0:
        raise S5InputError(f"{what} {p} is empty (0 samples); re-create or remove it")
    if sr is not None and file_sr != sr:
        raise S5InputError(
            f"{what} {p} has sample rate {file_sr} Hz but {sr} Hz is required; resample it "
            f"(e.g. sox in.wav -r {sr} out.wav)"
        )
    if channels is not None and data.shape[1] != channels:
        raise S5InputError(
            f"{what} {p} has {data.shape[1]} channel(s) but {channels} are required"
        )
    if not np.isfinite(data).all():
        raise S5InputError(f"{what} {p} contains NaN or Inf samples; re-create the file")
    return np.ascontiguousarray(data.T), file_sr
