"""Convert a user's own recordings into the recipe's mixture format with SoX (the ``sox`` binding).

Input: any file SoX reads (WAV of any bit depth, FLAC, AIFF, ...), any sample rate.
Output: a WAV at ``official.SAMPLE_RATE`` (32 kHz) with ``official.N_CHANNELS`` (4) channels,
32-bit float (default) or 16-bit PCM like the official sets, written atomically.

Channels. The recipe's 4 channels are those of the rooms it is trained on: the mini
corpus writes first-order Ambisonics (B-format) in ACN order W, Y, Z, X; the 1c tagger
hears channel 1 (W, omnidirectional) only, the 4c tagger and the separator all four in
their order. A 4-channel file is taken as it is (channel ``k`` -> channel ``k``): it must
already be FOA in the training rooms' order and normalisation, e.g. a FuMa file (W, X, Y, Z)
needs ``--select 1,3,4,2`` (and W scaled by sqrt(2) for SN3D). Files with another channel
count are refused unless an explicit map is given: ``--select`` (which input channels,
1-based, in output order; also for > 4 channels) or ``--upmix repeat|pad`` for mono and
stereo (``repeat``: channel k gets input channel ((k-1) mod n) + 1; ``pad``: the inputs go
to the first channels, the others are silent). Nothing is upmixed silently.

The binding's ``build_array`` is not used: for 32-bit output it reads SoX's signed
32-bit integers as float32 (garbage/NaN); ``build_file`` writes the file correctly.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import PREPARE_AUDIO_CMD, atomic_path, check_wav, read_wav
from espnet2_ext.s5.official import N_CHANNELS, SAMPLE_RATE

PathLike = Union[str, Path]
UPMIX_CHOICES = ("refuse", "repeat", "pad")
ENCODINGS = {"float": (32, "floating-point", "FLOAT"), "pcm16": (16, "signed-integer", "PCM_16")}


class _DropTemporaryWarnings(logging.Filter):
    """pysox warns about our atomic temporary (``.part`` extension, already created); both are fine."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not (".part" in msg and ("cannot process" in msg or "already exists" in msg))


def _sox():
    """The ``sox`` binding, after checking that the SoX program it drives is installed."""
    if shutil.which("sox") is None:
        raise S5InputError("the SoX program is not installed; install it (Debian/Ubuntu: "
                           "sudo apt-get install sox, or run make -C tools as root)")
    import sox

    logging.getLogger("sox").addFilter(_DropTemporaryWarnings())
    return sox


def channel_map(n_in: int, n_out: int = N_CHANNELS, upmix: str = "refuse",
                select: Optional[Sequence[int]] = None, path: PathLike = "input") -> Dict[int, List[int]]:
    """SoX remix map {output channel: [input channel]} (1-based; [] = silent) for one file.

    ``select``: the input channels, in output order (exactly ``n_out`` of them);
    otherwise ``n_in == n_out`` maps k -> k, and fewer inputs need ``upmix``.
    """
    if select:
        bad = [c for c in select if not 1 <= c <= n_in]
        if len(select) != n_out or bad:
            raise S5InputError(f"--select {','.join(map(str, select))} for {path}: give {n_out} channel "
                               f"numbers between 1 and {n_in} (the file has {n_in} channel(s))")
        return {k + 1: [c] for k, c in enumerate(select)}
    if n_in == n_out:
        return {k: [k] for k in range(1, n_out + 1)}
    if n_in > n_out:
        raise S5InputError(f"{path} has {n_in} channels but the recipe reads {n_out}: choose them "
                           f"with --select (e.g. --select {','.join(map(str, range(1, n_out + 1)))})")
    if upmix == "repeat":
        return {k: [(k - 1) % n_in + 1] for k in range(1, n_out + 1)}
    if upmix == "pad":
        return {k: ([k] if k <= n_in else []) for k in range(1, n_out + 1)}
    raise S5InputError(
        f"{path} has {n_in} channel(s) but the recipe reads {n_out}-channel (FOA) mixtures; it is not "
        f"upmixed silently: pass --upmix repeat (copy the channels) or --upmix pad (silent extra "
        f"channels), or --select to pick the channels")


def prepare_file(src: PathLike, dst: PathLike, upmix: str = "refuse", select: Optional[Sequence[int]] = None,
                 encoding: str = "float", sample_rate: int = SAMPLE_RATE, n_channels: int = N_CHANNELS) -> Path:
    """Convert one file with SoX (rate with the very-high-quality resampler, channel map) to ``dst``.

    The result is checked with the recipe's own reader before it is renamed into place.
    """
    sox = _sox()
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise S5InputError(f"input recording not found: {src}")
    if encoding not in ENCODINGS:
        raise S5InputError(f"unknown encoding {encoding!r}: use one of {', '.join(ENCODINGS)}")
    try:
        n_in = int(sox.file_info.channels(str(src)))
    except Exception as e:   # SoxiError: not audio, or a format this SoX build cannot read
        raise S5InputError(f"SoX cannot read {src} ({e}); convert it to WAV or FLAC first") from e
    remix = channel_map(n_in, n_channels, upmix, select, src)
    bits, sox_encoding, _ = ENCODINGS[encoding]
    tfm = sox.Transformer()
    tfm.set_globals(verbosity=1)          # SoX errors only
    tfm.remix(remix, num_output_channels=n_channels)
    tfm.rate(sample_rate, quality="v")
    tfm.set_output_format(file_type="wav", rate=sample_rate, bits=bits, channels=n_channels,
                          encoding=sox_encoding)
    with atomic_path(dst) as tmp:
        try:
            tfm.build_file(str(src), str(tmp))
        except Exception as e:   # SoxError with SoX's own message
            raise S5InputError(f"SoX failed to convert {src}: {e}") from e
        read_wav(tmp, sample_rate, n_channels, what=f"converted {src}")
    return dst


def prepare(inputs: Sequence[PathLike], output: PathLike, **options) -> List[Path]:
    """Convert files or folders (every file SoX reads, not recursive) into ``output``.

    One input file and an ``output`` ending in ``.wav``: that file; otherwise ``output`` is a
    folder that gets ``<stem>.wav`` per input (a soundscape folder for ``s5_inference``).
    """
    files: List[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.is_file() and not p.name.startswith("."))
            if not found:
                raise S5InputError(f"no files in {item}")
            files += found
        elif item.is_file():
            files.append(item)
        else:
            raise S5InputError(f"input recording not found: {item}")
    output = Path(output)
    if len(files) == 1 and output.suffix.lower() == ".wav" and not output.is_dir():
        return [prepare_file(files[0], output, **options)]
    stems = [f.stem for f in files]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise S5InputError(f"two inputs would both become {output / (dupes[0] + '.wav')}; rename one")
    return [prepare_file(f, output / f"{f.stem}.wav", **options) for f in files]


def describe(path: PathLike) -> str:
    """One line for the log: the converted file's rate, channels and length."""
    info = check_wav(path)
    return f"{path}: {info.samplerate} Hz, {info.channels} ch, {info.frames / info.samplerate:.2f} s, {info.subtype}"


__all__ = ["PREPARE_AUDIO_CMD", "UPMIX_CHOICES", "channel_map", "prepare_file", "prepare", "describe"]
