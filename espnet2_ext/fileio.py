"""Audio and file I/O with clear errors and atomic writes.

Every writer goes through :func:`atomic_path`: data is written to a temporary
file in the destination folder and renamed into place, so an interrupted run
never leaves a truncated file under the final name. Temporary names start with
a dot and end in ``.part`` (never in ``.wav``), so no ``*.wav`` listing picks
up a file left by a killed process. A full disk is reported as an
:class:`S5InputError` naming the file.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Iterator, NamedTuple, Optional, Tuple, Union

import numpy as np
import soundfile as sf

from espnet2_ext.errors import S5InputError

PathLike = Union[str, os.PathLike]
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_NEARLY_FULL_BYTES = 1 << 20   # a write that fails with less free space than this: disk full


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
    except BaseException as e:
        full = isinstance(e, Exception) and _disk_full(e, path.parent)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if full:
            raise S5InputError(
                f"no space left on the device while writing {path} ({e}); free some space "
                f"(df -h {path.parent}) and rerun: finished outputs are kept") from e
        raise


def _disk_full(error: Exception, folder: Path) -> bool:
    """Whether a failed write is due to a full disk (libsndfile and torch hide the errno)."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < _NEARLY_FULL_BYTES


def write_wav(path: PathLike, wav: np.ndarray, sr: int, subtype: str = "FLOAT") -> None:
    """Atomically write ``wav`` ([T] or [C, T], channels first) as a WAV file."""
    wav = np.asarray(wav)
    data = wav.T if wav.ndim == 2 else wav
    with atomic_path(path) as tmp:
        sf.write(str(tmp), data, sr, subtype=subtype, format="WAV")


def write_json(path: PathLike, obj: object, indent: int = 2) -> None:
    """Atomically write ``obj`` as JSON."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=indent)
            f.write("\n")


def write_torch(path: PathLike, obj: object) -> None:
    """Atomically ``torch.save`` ``obj`` (temporary file, fsync, rename).

    Saved through a file object: torch.save to a *path* names its zip records after
    the file, so identical objects saved to random temporary names would differ.
    """
    import torch

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())


class WavHeader(NamedTuple):
    """What the RIFF header of a WAV file announces (``frames``: from the data chunk size)."""

    format_tag: int   # 1 = PCM, 3 = IEEE float, 0xFFFE = WAVE_FORMAT_EXTENSIBLE
    channels: int
    sample_rate: int
    bits: int
    frames: int


def read_wav_header(path: Path) -> WavHeader:
    """Parse the RIFF ``fmt `` and ``data`` chunks of a WAV file (no audio decoding).

    Raises ValueError for a file that is not RIFF/WAVE or lacks either chunk.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError("not a RIFF/WAVE file")
        fmt = None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                break
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                fmt = struct.unpack("<HHIIHH", f.read(16))
                f.seek(size - 16 + (size & 1), 1)
            elif cid == b"data":
                if fmt is None:
                    raise ValueError("data chunk before fmt chunk")
                tag, ch, rate, _, block_align, bits = fmt
                return WavHeader(tag, ch, rate, bits, size // max(block_align, 1))
            else:
                f.seek(size + (size & 1), 1)
    raise ValueError("missing fmt or data chunk")


def missing_frames(path: PathLike, frames_present: int) -> int:
    """Frames the WAV header announces beyond ``frames_present`` (0: complete or not a RIFF WAV).

    libsndfile reads a WAV cut short (interrupted copy or download) without complaint;
    its data chunk size still tells how long the file should be.
    """
    try:
        h = read_wav_header(Path(path))
    except (OSError, ValueError, struct.error):
        return 0
    block_align = max(h.channels * h.bits // 8, 1)
    if h.frames * block_align >= 0xFFFFFFFF - block_align:   # size unknown (streamed WAV)
        return 0
    return max(h.frames - frames_present, 0)


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
    missing = missing_frames(p, data.shape[0])
    if missing:
        raise S5InputError(f"{what} {p} is truncated: {missing} of {data.shape[0] + missing} samples "
                           f"are missing; re-create or re-download the file")
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
