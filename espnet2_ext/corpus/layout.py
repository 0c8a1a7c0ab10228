"""The official corpus layout (``data/dev_set``, ``data/eval_set``, M2D weights) and its checker.

:func:`verify_layout` is the equivalent of the official ``verify.py``, made stricter: it walks
the whole tree and *collects* every problem (missing folder, wrong channel count or sample
rate, unknown or empty class folder, unreadable or wrong SOFA, short or non-PCM noise file,
broken metadata) as one human-readable line each, instead of stopping at the first.

Expected dev-set tree (baseline_spec §4.2)::

    config/{EARS_config.json, FSD50K_config.json}
    metadata/valid.json, metadata/valid/*.json
    noise/{train,valid}/**.wav                 4 ch, 32 kHz, plain PCM (format tag 1), >= 1 s
    room_ir/{train,valid}/*.sofa               4 receivers, 32 kHz
    sound_event/{train,valid}/<18 classes>/**.wav     mono, 32 kHz
    interference/{train,valid}/<class>/**.wav  mono, 32 kHz; the 94 Semantic Hearing classes
                                               come from stage 2; no target-class names
    synthesized/test/{soundscape,oracle_target}
"""
from __future__ import annotations

import glob
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

from tqdm import tqdm

from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import read_wav_header, wav_problems
from espnet2_ext.s5.official import (CLASSES, M2D_FOLDER, M2D_WEIGHTS, N_CHANNELS,
                                     SAMPLE_RATE, SOURCE_CHANNELS, SOURCE_NAME_FORMS, parse_source_filename)

SPLITS = ("train", "valid")
MIN_NOISE_SECONDS = 1.0
WAVE_FORMAT_PCM = 1

# Folder names inside the official archives and the M2D release zip.
DEV_SET_IN_ARCHIVE = "DCASE2026Task4Dataset/data/dev_set"
EVAL_SET_IN_ARCHIVE = "DCASE2026Task4EvaluationDataset/data/eval_set"
EVAL_SOUNDSCAPE_DIR = "synthesized/eval/soundscape"
PICKUP_CONFIGS = ("EARS_config.json", "FSD50K_config.json")

# The 94 FSD50K classes of Semantic Hearing's bg_scaper_fmt that the baseline copies as
# interference (add_interference.py, identical in the 2025 and 2026 baselines).
INTERFERENCE_CLASSES: List[str] = [
    "Air conditioning", "Aircraft", "Bird flight, flapping wings", "Bleat", "Boiling", "Boom",
    "Burping, eructation", "Burst, pop", "Bus", "Camera", "Car passing by",
    "Cattle, bovinae", "Chainsaw", "Chewing, mastication", "Chink, clink", "Clip-clop",
    "Cluck", "Clunk", "Coin (dropping)", "Crack", "Crackle", "Creak", "Croak", "Crow",
    "Crumpling, crinkling", "Crushing", "Drill", "Drip", "Electric toothbrush", "Engine",
    "Fart", "Finger snapping", "Fire", "Fire alarm", "Firecracker", "Fireworks",
    "Fixed-wing aircraft, airplane", "Frog", "Gears", "Growling", "Gurgling", "Helicopter",
    "Hiss", "Hoot", "Howl", "Howl (wind)", "Jackhammer", "Keys jangling", "Lawn mower",
    "Light engine (high frequency)", "Microwave oven", "Moo", "Oink", "Packing tape, duct tape",
    "Pig", "Printer", "Purr", "Rain", "Rain on surface", "Raindrop", "Ratchet, pawl", "Rattle",
    "Sanding", "Sawing", "Scissors", "Screech", "Sheep", "Ship", "Shuffling cards", "Skateboard",
    "Slam", "Sliding door", "Sneeze", "Sniff", "Snoring", "Splinter", "Squeak", "Stream",
    "Subway, metro, underground", "Tap", "Tearing", "Thump, thud", "Tick", "Tick-tock",
    "Toothbrush", "Traffic noise, roadway noise", "Train", "Train horn",
    "Velcro, hook and loop fastener", "Waterfall", "Whoosh, swoosh, swish", "Wind", "Writing",
    "Zipper (clothing)",
]
assert len(INTERFERENCE_CLASSES) == 94

# Folders the official verify.py asserts (relative to dev_set); interference comes from stage 2.
REQUIRED_DEV_DIRS = (
    "config", "metadata/valid", "noise/train", "noise/valid", "room_ir/train", "room_ir/valid",
    "sound_event/train", "sound_event/valid", "synthesized/test/soundscape",
    "synthesized/test/oracle_target",
)
EXTERNAL_DEV_DIRS = ("interference/train", "interference/valid")


# --------------------------------------------------------------------------- the checker
@dataclass
class LayoutReport:
    """Problems found (one line each) and how many items of each kind were checked."""

    problems: List[str] = field(default_factory=list)
    checked: Dict[str, int] = field(default_factory=dict)

    def add(self, problem: str) -> None:
        self.problems.append(problem)

    def count(self, kind: str, n: int = 1) -> None:
        self.checked[kind] = self.checked.get(kind, 0) + n

    @property
    def ok(self) -> bool:
        return not self.problems


def _wavs(folder: Path, recursive: bool = True) -> List[Path]:
    """Sorted .wav files; like the official glob, symlinked folders are followed."""
    pattern = os.path.join(glob.escape(str(folder)), "**" if recursive else "", "*.wav")
    return sorted(Path(p) for p in glob.glob(pattern, recursive=recursive) if os.path.isfile(p))


def _visible_children(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _check_audio(report: LayoutReport, path: Path, what: str, channels: int,
                 min_seconds: float = 0.0, plain_pcm: bool = False) -> None:
    """Check one WAV (:func:`~espnet2_ext.fileio.wav_problems`: readable, ``channels`` channels,
    32 kHz, complete, optional length) and optionally its PCM format tag; collect the problems."""
    report.count(what)
    info, problems = wav_problems(path, SAMPLE_RATE, channels, min_seconds=min_seconds, what=what)
    for problem in problems:
        report.add(f"{what} {path}: {problem.short}")
    if info is None:
        return
    if plain_pcm:
        try:
            tag = read_wav_header(path).format_tag
        except (OSError, ValueError, struct.error) as e:
            report.add(f"{what} {path}: cannot parse the WAV header ({e})")
            return
        if tag != WAVE_FORMAT_PCM:
            report.add(
                f"{what} {path}: WAV format tag {tag} (0x{tag:04X}), expected 1 = plain PCM; the "
                f"official synthesizer reads it with Python's `wave`, which rejects float (3) and "
                f"WAVE_FORMAT_EXTENSIBLE (65534). Rewrite it as 16-bit PCM, e.g. "
                f"`sox in.wav -b 16 -e signed-integer out.wav`")


def _check_audio_files(report: LayoutReport, files: Sequence[Path], what: str, progress: bool,
                       **expect) -> None:
    """:func:`_check_audio` on every file (with a progress bar for long lists)."""
    for p in tqdm(files, desc=what, disable=not progress or len(files) < 500, leave=False):
        _check_audio(report, p, what, **expect)


def _check_class_tree(report: LayoutReport, root: Path, what: str, progress: bool,
                      classes: Optional[Sequence[str]] = None, forbidden: Sequence[str] = ()
                      ) -> None:
    """``root/<class>/**.wav``: no empty class folder, mono 32 kHz files.

    ``classes``: the exact set of class folders (unknown and missing ones are problems);
    ``forbidden``: names that must not appear (target classes among the interference).
    """
    present = set()
    for child in _visible_children(root):
        if not child.is_dir():
            report.add(f"{what}: unexpected file {child} (only class folders belong here)")
            continue
        if classes is not None and child.name not in classes:
            report.add(f"{what}: unknown class folder {child} (not one of the "
                       f"{len(classes)} official classes)")
            continue
        if child.name in forbidden:
            report.add(f"{what}: class folder {child} is a target class; interference must "
                       f"not contain target sounds")
            continue
        present.add(child.name)
        files = _wavs(child)
        if not files:
            report.add(f"{what}: empty class folder {child} (no .wav files)")
        _check_audio_files(report, files, what, progress, channels=SOURCE_CHANNELS)
    for name in classes or ():
        if name not in present:
            report.add(f"{what}: missing class folder {root / name}")


def _check_noise(report: LayoutReport, root: Path, progress: bool) -> None:
    files = _wavs(root)
    if not files:
        report.add(f"noise: no .wav files in {root}")
    _check_audio_files(report, files, "noise", progress, channels=N_CHANNELS,
                       min_seconds=MIN_NOISE_SECONDS, plain_pcm=True)


def _check_sofa(report: LayoutReport, path: Path) -> None:
    """Header (shape, rate) plus the last impulse response, so a cut-off file is caught cheaply."""
    from espnet2_ext.synth.sofa import read_sofa_header, read_sofa_irs  # h5py only when needed

    report.count("SOFA")
    try:
        sofa = read_sofa_header(path)
        n_pos, n_rec, _ = sofa.irs.shape
        last = read_sofa_irs(path, [n_pos - 1]) if n_pos else None
    except Exception as e:  # S5InputError for truncated HDF5, missing variables, ...
        report.add(f"room_ir {path}: unreadable or truncated SOFA file ({e})")
        return
    if n_rec != N_CHANNELS:
        report.add(f"room_ir {path}: {n_rec} receivers, expected {N_CHANNELS}")
    if last is None or last.shape[-1] == 0:
        report.add(f"room_ir {path}: no impulse responses (M={n_pos})")
    if int(sofa.sr) != SAMPLE_RATE:
        report.add(f"room_ir {path}: sampling rate {sofa.sr} Hz, expected {SAMPLE_RATE} Hz")


def _check_rooms(report: LayoutReport, root: Path) -> None:
    files = sorted(p for p in root.iterdir() if p.name.endswith(".sofa") and p.is_file())
    if not files:
        report.add(f"room_ir: no .sofa files in {root}")
    for p in files:
        _check_sofa(report, p)


def _load_json(report: LayoutReport, path: Path, what: str) -> Optional[object]:
    """Parsed JSON, or None after reporting a missing or unreadable file."""
    if not path.is_file():
        report.add(f"{what}: missing file {path}")
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        report.add(f"{what} {path}: unreadable JSON ({e})")
        return None


def _check_metadata(report: LayoutReport, dev: Path) -> None:
    listing = dev / "metadata" / "valid.json"
    entries = _load_json(report, listing, "metadata")
    if entries is None:
        return
    if not isinstance(entries, list) or not entries:
        report.add(f"metadata {listing}: expected a non-empty list of {{'metadata_path': ...}}")
        return
    for i, entry in enumerate(entries):
        rel = entry.get("metadata_path") if isinstance(entry, dict) else None
        if not isinstance(rel, str):
            report.add(f"metadata {listing}: entry {i} has no 'metadata_path'")
            continue
        report.count("metadata")
        meta = _load_json(report, listing.parent / rel, f"metadata (entry {i} of {listing})")
        if meta is not None and not (isinstance(meta, dict) and "fg_events" in meta
                                     and "config" in meta):
            report.add(f"metadata {listing.parent / rel}: not a scene metadata file "
                       f"(no 'config'/'fg_events')")


def _check_pickup_config(report: LayoutReport, path: Path) -> None:
    rows = _load_json(report, path, "config")
    if rows is None:
        return
    keys = ("file_name", "t4_label", "convert_path")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and all(k in r for k in keys)
                                             for r in rows):
        report.add(f"config {path}: expected a list of rows with keys {', '.join(keys)}")


def _oracle_label(name: str, soundscapes: Sequence[str]) -> Optional[str]:
    """Label of an oracle file ``<soundscape>[_<n>]_<Label>.wav`` (official regex), or None."""
    for stem in soundscapes:
        parsed = parse_source_filename(name, stem)
        if parsed is not None:
            return parsed[1]
    return None


def _check_test_set(report: LayoutReport, test: Path, progress: bool) -> None:
    mixtures = _wavs(test / "soundscape", recursive=False)
    if not mixtures:
        report.add(f"test set: no .wav files in {test / 'soundscape'}")
    _check_audio_files(report, mixtures, "test soundscape", progress, channels=N_CHANNELS)
    stems = sorted((p.stem for p in mixtures), key=len, reverse=True)
    refs = _wavs(test / "oracle_target", recursive=False)
    for p in refs:
        label = _oracle_label(p.name, stems)
        if label is None:
            report.add(f"test oracle_target {p}: name is not {SOURCE_NAME_FORMS} "
                       f"for any soundscape in {test / 'soundscape'}")
        elif label not in CLASSES:
            report.add(f"test oracle_target {p}: label {label!r} is not one of the 18 classes")
    _check_audio_files(report, refs, "test oracle_target", progress, channels=SOURCE_CHANNELS)


def verify_dev_set(dev: Path, report: LayoutReport, require_external: bool = True,
                   progress: bool = False) -> None:
    """Check a ``dev_set`` folder; problems are appended to ``report``.

    ``require_external=False`` accepts a missing interference folder (before stage 2).
    """
    dev = Path(dev)
    if not dev.is_dir():
        report.add(f"dev_set: missing folder {dev}")
        return
    required = REQUIRED_DEV_DIRS + (EXTERNAL_DEV_DIRS if require_external else ())
    for rel in required:
        if not (dev / rel).is_dir():
            report.add(f"dev_set: missing folder {dev / rel}")
    for name in PICKUP_CONFIGS:
        _check_pickup_config(report, dev / "config" / name)
    _check_metadata(report, dev)
    for split in SPLITS:
        if (dev / "sound_event" / split).is_dir():
            _check_class_tree(report, dev / "sound_event" / split, "sound_event", progress,
                              classes=CLASSES)
        if (dev / "interference" / split).is_dir():
            # Any class name: the 94 Semantic Hearing classes (stage 2) and whatever
            # non-target sounds the dev set ships; only target-class names are refused.
            _check_class_tree(report, dev / "interference" / split, "interference", progress,
                              forbidden=CLASSES)
            if require_external and not any(p.is_dir() for p in
                                            _visible_children(dev / "interference" / split)):
                report.add(f"interference: no class folders in {dev / 'interference' / split}; "
                           f"run stage 2 (add external data)")
        if (dev / "noise" / split).is_dir():
            _check_noise(report, dev / "noise" / split, progress)
        if (dev / "room_ir" / split).is_dir():
            _check_rooms(report, dev / "room_ir" / split)
    if (dev / "synthesized" / "test" / "soundscape").is_dir():
        _check_test_set(report, dev / "synthesized" / "test", progress)


def verify_eval_set(eval_set: Path, report: LayoutReport, progress: bool = False) -> None:
    """Check ``eval_set/synthesized/eval/soundscape/*.wav`` (4 ch, 32 kHz)."""
    folder = Path(eval_set) / EVAL_SOUNDSCAPE_DIR
    if not folder.is_dir():
        report.add(f"eval_set: missing folder {folder}")
        return
    files = _wavs(folder, recursive=False)
    if not files:
        report.add(f"eval_set: no .wav files in {folder}")
    _check_audio_files(report, files, "eval soundscape", progress, channels=N_CHANNELS)


def verify_m2d_dir(m2d_dir: Path, report: LayoutReport) -> None:
    """Check that the M2D weight file exists and looks like a PyTorch file."""
    path = Path(m2d_dir) / M2D_WEIGHTS
    report.count("M2D weights")
    if not path.is_file():
        report.add(f"M2D: missing weight file {path} (stage 1 downloads "
                   f"{M2D_FOLDER}.zip from the nttcslab/m2d v0.3.0 release)")
        return
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic != b"PK" and magic[:1] != b"\x80":
        report.add(f"M2D: {path} is not a PyTorch file (truncated download?); delete it and "
                   f"re-run stage 1")


def verify_layout(dev_set: Optional[Path] = None, eval_set: Optional[Path] = None,
                  m2d_dir: Optional[Path] = None, require_external: bool = True,
                  progress: bool = False) -> LayoutReport:
    """Check every given item; return a report holding *all* problems found."""
    report = LayoutReport()
    if dev_set is not None:
        verify_dev_set(Path(dev_set), report, require_external=require_external,
                       progress=progress)
    if eval_set is not None:
        verify_eval_set(Path(eval_set), report, progress=progress)
    if m2d_dir is not None:
        verify_m2d_dir(Path(m2d_dir), report)
    return report


def format_report(report: LayoutReport, items: Iterable[str]) -> str:
    """A printable summary: the checked counts, then every problem on its own line."""
    counts = ", ".join(f"{n} {k}" for k, n in sorted(report.checked.items()))
    head = f"checked {' '.join(items)}: {counts or 'nothing'}"
    if report.ok:
        return head + "\nlayout OK"
    lines = [head, f"{len(report.problems)} problem(s):"]
    lines += [f"  - {p}" for p in report.problems]
    return "\n".join(lines)


def check_layout(dev_set: Optional[Path], eval_set: Optional[Path], m2d_dir: Optional[Path],
                 require_external: bool = True, progress: bool = False) -> str:
    """Run the checker; return the report text, raise S5InputError listing every problem."""
    items = [f"{k}={v}" for k, v in (("dev_set", dev_set), ("eval_set", eval_set),
                                     ("m2d_dir", m2d_dir)) if v is not None]
    if not items:
        raise S5InputError("nothing to check: give --dev_set, --eval_set and/or --m2d_dir")
    report = verify_layout(dev_set, eval_set, m2d_dir, require_external=require_external,
                           progress=progress)
    text = format_report(report, items)
    if not report.ok:
        raise S5InputError(f"corpus layout check failed\n{text}")
    return text
