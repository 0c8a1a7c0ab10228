"""Audio and file I/O with clear errors and atomic writes.

Every WAV header check (rate, channels, empty, truncated) is :func:`wav_problems`:
readers raise its first problem (:func:`check_wav`, :func:`read_wav`), the corpus
layout checker collects them all.

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
import fnmatch
import json
import os
import shutil
import struct
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, NamedTuple, Optional, Tuple, Union

import numpy as np
import soundfile as sf

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.official import N_CHANNELS, SAMPLE_RATE

PathLike = Union[str, os.PathLike]
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_NEARLY_FULL_BYTES = 1 << 20   # a write that fails with less free space than this: disk full
PREPARE_AUDIO_CMD = "python -m espnet2_ext.bin.s5_prepare_audio"   # converts to the recipe's format


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


@contextlib.contextmanager
def atomic_dir(path: PathLike, keep: Tuple[str, ...] = ("*.log",)) -> Iterator[Path]:
    """Yield an empty folder next to ``path``; on success it replaces ``path`` as a unit.

    So an interrupted run never leaves new files beside an older run's: readers see the
    old folder or the new one. Entries of the old folder matching ``keep`` (the log a job
    launcher is writing) are moved into the new one; folders left aside by a killed run
    (``.<name>.tmp-*``, ``.<name>.old-*``) are removed first. On an exception the new folder
    is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in [*path.parent.glob(f".{path.name}.tmp-*"), *path.parent.glob(f".{path.name}.old-*")]:
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)
        old = None
        if path.exists():
            for entry in path.iterdir():
                if any(fnmatch.fnmatch(entry.name, pattern) for pattern in keep) and not (tmp / entry.name).exists():
                    os.replace(entry, tmp / entry.name)
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
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


def write_pcm16(path: Path, wav: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    """Atomically write ``wav`` ([T] or [C, T], floats in [-1, 1]) as plain 16-bit PCM.

    Uses the stdlib ``wave`` module, which always writes format tag 1 (WAVE_FORMAT_PCM),
    also for > 2 channels (soundfile would write WAVE_FORMAT_EXTENSIBLE there).
    """
    wav = np.atleast_2d(np.asarray(wav, dtype=np.float64))
    pcm = np.clip(np.round(wav * 32767.0), -32768, 32767).astype("<i2")
    with atomic_path(path) as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(pcm.shape[0])
            w.setsampwidth(2)
            w.setframerate(sr)
            w.writeframes(np.ascontiguousarray(pcm.T).tobytes())


def read_json(path: PathLike, what: str = "JSON file", fix: str = "", allow_nan: bool = True) -> object:
    """Parse a JSON file; S5InputError ``cannot read <what> <path>: <reason>[; <fix>]`` otherwise.

    ``allow_nan=False``: NaN / Infinity (not JSON, though Python writes them) are errors too,
    for files that are copied into packages read by strict parsers.
    """
    try:
        with open(path) as f:
            return json.load(f, **({} if allow_nan else {"parse_constant": _no_constant}))
    except (OSError, ValueError) as e:
        raise S5InputError(f"cannot read {what} {path}: {e}" + (f"; {fix}" if fix else "")) from e


def read_yaml_mapping(path: PathLike, what: str = "YAML file", fix: str = "") -> dict:
    """Parse a YAML file whose top level must be a mapping; one S5InputError naming it otherwise."""
    import yaml

    suffix = f"; {fix}" if fix else ""
    try:
        with open(path, encoding="utf-8") as f:
            value = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError) as e:
        raise S5InputError(f"cannot read {what} {path}: {e}{suffix}") from e
    except yaml.YAMLError as e:
        raise S5InputError(f"{what} {path} is not valid YAML: {' '.join(str(e).split())}; fix the file{suffix}") from e
    if not isinstance(value, dict):
        raise S5InputError(f"{what} {path}: the top level is {type(value).__name__}, expected a mapping of "
                           f"option: value{suffix}")
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a valid JSON number")


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


@dataclass(frozen=True)
class WavProblem:
    """One problem of a WAV file, in the two forms callers need.

    ``short``: the layout checker's line after ``"<what> <path>: "`` (it collects them);
    ``message``: a whole sentence naming the file and the fix (readers raise it).
    """

    kind: str      # missing | unreadable | channels | rate | empty | truncated | short
    short: str
    message: str


def _convert_hint(sr: Optional[int], channels: Optional[int]) -> str:
    """The fix for a wrong rate or channel count: s5_prepare_audio for mixtures, else SoX."""
    fmt = " ".join(x for x in (f"{channels}-channel" if channels else "", f"{sr} Hz" if sr else "") if x)
    sox_cmd = f"sox in.wav -r {sr} out.wav" if sr else "sox"
    if channels == N_CHANNELS:
        return f"the recipe reads {fmt} mixtures: convert it with `{PREPARE_AUDIO_CMD} in.wav out.wav` (or {sox_cmd})"
    return f"the recipe reads {fmt} audio: convert it (e.g. {sox_cmd})"


def _unreadable(what: str, path: Path, error: Exception) -> str:
    return f"cannot read {what} {path}: {error}. Re-create or re-download the file."


def wav_problems(path: PathLike, sr: Optional[int] = None, channels: Optional[int] = None,
                 min_seconds: float = 0.0, what: str = "audio file"
                 ) -> Tuple[Optional["sf._SoundFileInfo"], List[WavProblem]]:
    """Check a WAV's header without decoding it: (soundfile info or None, every problem found).

    Checked: exists and readable, ``channels`` channels, ``sr`` Hz, not empty, not truncated
    (the data chunk announces more samples than the file holds), at least ``min_seconds`` long.
    """
    p = Path(path)
    if not p.is_file():
        return None, [WavProblem("missing", "missing file", f"{what} not found: {p}")]
    try:
        info = sf.info(str(p))
    except Exception as e:  # libsndfile: corrupt, truncated header, not audio
        return None, [WavProblem("unreadable", f"unreadable WAV ({e})", _unreadable(what, p, e))]
    problems = []
    if channels is not None and info.channels != channels:
        problems.append(WavProblem(
            "channels", f"{info.channels} channel(s), expected {channels}",
            f"{what} {p} has {info.channels} channel(s) but {channels} are required; "
            f"{_convert_hint(sr, channels)}"))
    if sr is not None and info.samplerate != sr:
        problems.append(WavProblem(
            "rate", f"sample rate {info.samplerate} Hz, expected {sr} Hz",
            f"{what} {p} has sample rate {info.samplerate} Hz but {sr} Hz is required; "
            f"{_convert_hint(sr, channels)}"))
    if info.frames == 0:
        problems.append(WavProblem("empty", "empty (0 samples)",
                                   f"{what} {p} is empty (0 samples); re-create or remove it"))
    elif (missing := missing_frames(p, info.frames)):
        problems.append(WavProblem(
            "truncated", f"truncated ({missing} samples announced by the header are missing); "
                         f"re-create or re-download it",
            f"{what} {p} is truncated: {missing} of {info.frames + missing} samples are missing; "
            f"re-create or re-download the file"))
    elif info.frames < min_seconds * info.samplerate:
        seconds = f"{info.frames / info.samplerate:.3f} s long, shorter than the required {min_seconds:g} s"
        problems.append(WavProblem("short", seconds, f"{what} {p} is {seconds}"))
    return info, problems


def check_wav(path: PathLike, sr: Optional[int] = None, channels: Optional[int] = None,
              what: str = "audio file", hint: str = "", missing_hint: str = "") -> "sf._SoundFileInfo":
    """:func:`wav_problems`, raising the first problem as S5InputError.

    ``hint`` is appended to any message, ``missing_hint`` (instead) to 'not found'.
    """
    info, problems = wav_problems(path, sr, channels, what=what)
    if problems:
        first = problems[0]
        extra = missing_hint if first.kind == "missing" and missing_hint else hint
        raise S5InputError(first.message + (f"; {extra}" if extra else ""))
    return info


def read_wav(
    path: PathLike,
    sr: Optional[int] = None,
    channels: Optional[int] = None,
    what: str = "audio file",
    dtype: str = "float32",
) -> Tuple[np.ndarray, int]:
    """Read a WAV as [C, T] (always 2-D, ``dtype``) and its rate, after :func:`check_wav`.

    Raises S5InputError naming ``path`` when the file is missing, unreadable, empty,
    truncated, has the wrong sample rate or channel count, or has non-finite samples.
    """
    p = Path(path)
    check_wav(p, sr, channels, what)
    try:
        data, file_sr = sf.read(str(p), dtype=dtype, always_2d=True)
    except Exception as e:  # libsndfile errors for corrupt data past the header
        raise S5InputError(_unreadable(what, p, e)) from e
    if not np.isfinite(data).all():
        raise S5InputError(f"{what} {p} contains NaN or Inf samples; re-create the file")
    return np.ascontiguousarray(data.T), file_sr
