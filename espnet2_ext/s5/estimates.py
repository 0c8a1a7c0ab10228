"""Folders of estimates / oracle targets (spec §4.3): indexing, checks, estimates.json.

A soundscape ``<name>.wav`` has its sources in a flat folder, named and matched as
:mod:`espnet2_ext.s5.official` defines (``<name>_<i>_<Label>.wav``), files of
one soundscape sorted by name, label one of the 18 classes. Unlike the official
loader, every ``.wav`` of the folder must belong to a soundscape (the longest
matching name wins, so ``x_1`` and ``x_10`` can coexist) and every mistake is an
:class:`S5InputError` naming the file.

Our decoder also writes ``estimates.json``: ``{"<soundscape>": [{"filename", "label",
"probability"}, ...]}`` (the tagger's max softmax per written estimate).
"""
from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from espnet2_ext import validate
from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import PathLike, check_wav, read_json, read_wav
from espnet2_ext.names import check_name
from espnet2_ext.s5.labels import CLASS_TO_INDEX
from espnet2_ext.s5.official import (CLASSES, N_SLOTS, SAMPLE_RATE, SILENCE, SOURCE_CHANNELS, SOURCE_NAME_FORMS,
                                     parse_source_filename)


@dataclass(frozen=True)
class SourceFile:
    """One per-source wav of a soundscape (an estimate or an oracle target)."""

    path: Path
    soundscape: str
    slot: Optional[int]
    label: str

    @property
    def filename(self) -> str:
        return self.path.name


def _check_label(label: str, path: Path, what: str) -> None:
    if label not in CLASS_TO_INDEX:
        raise S5InputError(
            f"{what} {path}: unknown label {label!r} in the file name; name it "
            f"<soundscape>_<i>_<Label>.wav with Label one of {', '.join(CLASSES)}"
        )


def _owner(filename: str, soundscapes: set) -> Optional[Tuple[str, Optional[int], str]]:
    """The longest soundscape name whose source pattern matches ``filename``."""
    stem = filename[:-4]
    for cut in sorted((k for k, ch in enumerate(stem) if ch == "_"), reverse=True):
        name = stem[:cut]
        parsed = parse_source_filename(filename, name) if name in soundscapes else None
        if parsed is not None:
            return (name,) + parsed
    return None


# ------------------------------------------------------------------------------------------
# folders
# ------------------------------------------------------------------------------------------
def wav_files(folder: Path, what: str) -> List[Path]:
    """The ``*.wav`` files of ``folder``, sorted; a ``.WAV``/``.Wav`` file is an error, not
    silently skipped (the official tools read ``*.wav`` only, so it would be lost), and so is
    a name with a control character (e.g. ``test_0000\\n.wav``: the soundscape and source
    names end up in reports, tables and the submission)."""
    files = sorted(folder.iterdir())
    odd = next((p for p in files if p.suffix.lower() == ".wav" and p.suffix != ".wav"), None)
    if odd is not None:
        raise S5InputError(f"{what} {odd}: the extension must be lower-case .wav (the official tools "
                           f"skip {odd.suffix} files); rename it to {odd.stem}.wav")
    wavs = [p for p in files if p.suffix == ".wav"]
    for p in wavs:
        check_name(p.name, f"{what} file", f"rename it in {folder} without the control character")
    return wavs


def list_soundscapes(soundscape_dir: PathLike) -> List[str]:
    """Sorted soundscape names (stems of the ``.wav`` files) of a folder."""
    folder = Path(soundscape_dir)
    if not folder.is_dir():
        raise S5InputError(f"soundscape folder not found: {folder}")
    names = [p.stem for p in wav_files(folder, "soundscape")]
    if not names:
        raise S5InputError(f"no .wav soundscapes in {folder}")
    return names


def index_sources(
    source_dir: PathLike, soundscapes: Sequence[str], what: str = "estimate"
) -> Dict[str, List[SourceFile]]:
    """Assign every ``.wav`` of ``source_dir`` to its soundscape: name -> files sorted by name.

    Every soundscape gets a (possibly empty) list. A wav that matches no soundscape
    or has an unknown label raises S5InputError naming it.
    """
    folder = Path(source_dir)
    if not folder.is_dir():
        raise S5InputError(f"{what} folder not found: {folder}")
    names = set(soundscapes)
    index: Dict[str, List[SourceFile]] = {name: [] for name in soundscapes}
    for path in wav_files(folder, what):
        owner = _owner(path.name, names)
        if owner is None:
            raise S5InputError(
                f"{what} {path}: the name matches no soundscape of the set; expected "
                f"{SOURCE_NAME_FORMS}"
            )
        soundscape, slot, label = owner
        _check_label(label, path, what)
        index[soundscape].append(SourceFile(path, soundscape, slot, label))
    return index


def oracle_target_files(oracle_target_dir: PathLike, soundscape: str) -> List[Path]:
    """The oracle-target files of one soundscape, in slot order (sorted names)."""
    return sorted(Path(oracle_target_dir).glob(f"{glob.escape(soundscape)}_*.wav"))


def oracle_labels_of(oracle_target_dir: PathLike, soundscape: str, n_slots: int = N_SLOTS) -> List[str]:
    """Reference labels of one soundscape from its oracle-target file names, padded with 'silence'."""
    folder = Path(oracle_target_dir)
    labels = []
    for path in oracle_target_files(folder, soundscape):
        _, label = parse_source_filename(path.name, soundscape)
        _check_label(label, path, "oracle target")
        labels.append(label)
    if len(labels) > n_slots:
        raise S5InputError(f"{len(labels)} oracle targets for {soundscape} in {folder}; at most {n_slots}")
    return labels + [SILENCE] * (n_slots - len(labels))


# ------------------------------------------------------------------------------------------
# estimates.json
# ------------------------------------------------------------------------------------------
def read_estimates_json(path: PathLike) -> Dict[str, List[dict]]:
    """Read ``{"<soundscape>": [{"filename", "label", "probability"}]}``, every value checked.

    Probabilities must be finite numbers in [0, 1] (a NaN would be copied into the
    submission, whose JSON would then no longer parse); errors name the file and the key.
    """
    path = Path(path)
    data = read_json(path, "estimates JSON")
    fix = ('this is not an estimates JSON: expected {"<soundscape>": [{"filename": ..., "label": ..., "probability": ...}]}; '
           "re-run the decoder (stage 7)")
    validate.typed(data, dict, str(path), "the top level", fix)
    for soundscape, items in data.items():
        validate.typed(items, list, str(path), f"[{soundscape!r}]", fix)
        for i, item in enumerate(items):
            key = f"[{soundscape!r}][{i}]"
            validate.keys(item, ("filename", "label", "probability"), str(path), key, fix)
            validate.typed(item["filename"], str, str(path), f"{key}.filename", fix)
            validate.typed(item["label"], str, str(path), f"{key}.label", fix)
            validate.probability(item["probability"], str(path), f"{key}.probability",
                                 "a probability is a finite number in [0, 1]; re-run the decoder (stage 7)")
    return data


def check_estimates_json(
    entries: Mapping[str, List[dict]],
    index: Mapping[str, List[SourceFile]],
    json_path: PathLike,
    require_every_soundscape: bool = False,
) -> Dict[str, float]:
    """Cross-check an estimates JSON with the indexed wavs; return filename -> probability.

    The JSON must list exactly the wav files (no duplicates), under their soundscape and
    with the label of the file name; with ``require_every_soundscape`` every soundscape
    must have an entry (an empty list for no estimate), as the submission requires.
    """
    files = {f.filename: f for files in index.values() for f in files}
    probs: Dict[str, float] = {}
    for soundscape, items in entries.items():
        if soundscape not in index:
            raise S5InputError(f"{json_path}: soundscape {soundscape!r} is not in the soundscape folder")
        for item in items:
            name = item["filename"]
            if name in probs:
                raise S5InputError(f"{json_path}: {name} is listed twice")
            if name not in files or files[name].soundscape != soundscape:
                raise S5InputError(f"{json_path}: {name} (under {soundscape}) has no such estimate wav")
            if item["label"] != files[name].label:
                raise S5InputError(f"{json_path}: {name} is listed with label {item['label']!r}")
            probs[name] = float(item["probability"])
    unlisted = sorted(set(files) - set(probs))
    if unlisted:
        raise S5InputError(f"{json_path} does not list the estimate wav {unlisted[0]} "
                           f"({len(unlisted)} unlisted); re-run the decoder or remove the file")
    if require_every_soundscape:
        missing = [s for s in index if s not in entries]
        if missing:
            raise S5InputError(f"{json_path} has no entry for soundscape {missing[0]} "
                               f"({len(missing)} missing); every soundscape needs one (possibly [])")
    return probs


# ------------------------------------------------------------------------------------------
# per-mixture records
# ------------------------------------------------------------------------------------------
@dataclass
class MixtureRecord:
    """Everything needed to score one soundscape (labels padded with 'silence' to >= 3 slots).

    mixture [T] (channel 0); ref_wavs [n_ref, T]; est_wavs [n_est, T] (zeros for silence);
    est_files: names of the estimate wavs; probabilities aligned with est_labels
    (1.0 where unknown, as the official file-based evaluation).
    """

    soundscape: str
    mixture: np.ndarray
    ref_labels: List[str]
    ref_wavs: np.ndarray
    est_labels: List[str]
    est_wavs: np.ndarray
    est_files: List[str]
    probabilities: List[float]


def load_sources(
    files: Sequence[SourceFile], n_samples: int, n_slots: int = N_SLOTS, what: str = "estimate"
) -> Tuple[List[str], np.ndarray]:
    """Labels (padded with 'silence') and waveforms [max(n, n_slots), n_samples] of source files."""
    wavs = []
    for f in files:
        wav, _ = read_wav(f.path, sr=SAMPLE_RATE, channels=SOURCE_CHANNELS, what=what)
        _check_length(f.path, wav.shape[1], n_samples, what)
        wavs.append(wav[0])
    n_pad = max(n_slots - len(files), 0)
    wavs += [np.zeros(n_samples, dtype=np.float32)] * n_pad
    return [f.label for f in files] + [SILENCE] * n_pad, np.stack(wavs)


def iter_records(
    soundscape_dir: PathLike,
    soundscapes: Sequence[str],
    ref_index: Mapping[str, List[SourceFile]],
    est_index: Mapping[str, List[SourceFile]],
    probabilities: Optional[Mapping[str, float]] = None,
) -> Iterator[MixtureRecord]:
    """Load the soundscapes one at a time (lazy: a full set does not fit in memory)."""
    probabilities = probabilities or {}
    for name in soundscapes:
        mixture, _ = read_wav(Path(soundscape_dir) / f"{name}.wav", sr=SAMPLE_RATE, what="soundscape")
        n_samples = mixture.shape[1]
        ref_labels, ref_wavs = load_sources(ref_index[name], n_samples, what="oracle target")
        est_labels, est_wavs = load_sources(est_index[name], n_samples, what="estimate")
        est_files = [f.filename for f in est_index[name]]
        probs = [probabilities.get(f, 1.0) for f in est_files]
        yield MixtureRecord(name, mixture[0], ref_labels, ref_wavs, est_labels, est_wavs, est_files,
                            probs + [1.0] * (len(est_labels) - len(probs)))


def _check_length(path: Path, frames: int, n_samples: int, what: str) -> None:
    if frames != n_samples:
        raise S5InputError(f"{what} {path} has {frames} samples but its soundscape has "
                           f"{n_samples}; write estimates at the soundscape's length")


def check_source_headers(files: Sequence[SourceFile], n_samples: int, what: str = "estimate") -> None:
    """Cheap header check (no audio read): mono, 32 kHz, complete, ``n_samples`` long."""
    for f in files:
        info = check_wav(f.path, SAMPLE_RATE, SOURCE_CHANNELS, what=what)
        _check_length(f.path, info.frames, n_samples, what)
