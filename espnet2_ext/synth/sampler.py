"""Random scenes: the official DatasetS3 ``generate`` recipe (baseline_spec.md §4.5).

Differences from the official code, all on purpose:
  * randomness is a numpy ``Generator`` passed in (the datasets seed it from
    ``SeedSequence([seed, epoch, index])``), never the global ``random`` module;
  * every listing (rooms, labels, files) is sorted, so a seed gives the same
    scene on every filesystem;
  * where the official code would stop on an assertion (a same-class duplicate
    without an allowed position or file), the duplicate is replaced by one more
    event of a new class and a warning is logged, so the event count is kept.

Generator config keys (official spelling; defaults = the separation config):
  nevent_range [1, 3], ninterference_range [0, 2], snr_range [5, 20],
  inteference_snr_range (or interference_snr_range) [0, 15], dupse_rate 0.5,
  max_n_dupse 2, dupse_min_angle 60.0, dupse_exclusion_folder_depth 1.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from espnet2_ext import validate
from espnet2_ext.errors import S5InputError
from espnet2_ext.synth.rir_store import resolve_store_dir
from espnet2_ext.synth.room import RirCache
from espnet2_ext.synth.scene import CONFIG_KEYS, CorpusPaths, Event, Scene, check_direct_range
from espnet2_ext.synth.sources import SourceLoader

logger = logging.getLogger(__name__)

GENERATOR_DEFAULTS = {
    "nevent_range": [1, 3], "ninterference_range": [0, 2], "snr_range": [5, 20],
    "inteference_snr_range": [0, 15], "dupse_rate": 0.5, "max_n_dupse": 2,
    "dupse_min_angle": 60.0, "dupse_exclusion_folder_depth": 1,
}


def generator_config(config: dict) -> dict:
    """Official generator keys with defaults; ``interference_snr_range`` is an accepted alias."""
    out = dict(GENERATOR_DEFAULTS)
    out.update({k: config[k] for k in GENERATOR_DEFAULTS if k in config})
    if "interference_snr_range" in config and "inteference_snr_range" not in config:
        out["inteference_snr_range"] = config["interference_snr_range"]
    return out


#: train_data_conf keys besides the generator's and the scene block
DATASET_KEYS = ("dataset_length", "fg_return", "shuffle_label", "interference_snr_range", "rir_cache_mb",
                "source_cache_mb", "render_on_device", "rir_store_dir")


def check_generate_config(config: object, where: str) -> None:
    """Types and ranges of the synthesis settings (``train_data_conf``), naming ``where`` and the key.

    Checked before training writes anything, so a string SNR range or a NaN rate stops with
    an error instead of a traceback in a data-loading process (or a silently wrong dataset).
    """
    fix = "see egs2/dcase26t4/s5/conf/*.yaml for the expected train_data_conf"
    validate.typed(config, dict, where, "train_data_conf", fix)
    scene = config.get("spatial_sound_scene", config)
    sk = "train_data_conf.spatial_sound_scene" if "spatial_sound_scene" in config else "train_data_conf"
    validate.typed(scene, dict, where, sk, fix)
    validate.keys(scene, ("duration", "sr", "max_event_overlap", "max_event_dur", "ref_db",
                          "foreground_dir", "room_config"), where, sk, fix)
    known = set(DATASET_KEYS) | set(GENERATOR_DEFAULTS) | ({"spatial_sound_scene"} if scene is not config
                                                           else set(CONFIG_KEYS))
    blocks = [(config, known, "train_data_conf")] + ([(scene, CONFIG_KEYS, sk)] if scene is not config else [])
    room = validate.keys(scene["room_config"], ("args",), where, f"{sk}.room_config", fix)
    validate.typed(room["args"], dict, where, f"{sk}.room_config.args", fix)
    blocks += [(room, ("module", "main", "args"), f"{sk}.room_config"),
               (room["args"], ("path", "direct_range_ms"), f"{sk}.room_config.args")]
    for block, allowed, name in blocks:
        unknown = sorted(str(k) for k in block if k not in allowed)
        if unknown:
            raise S5InputError(f"{where}: {name} has the unknown key(s) {unknown} (a misspelt key would "
                               f"silently take its default); known: {', '.join(sorted(allowed))}")
    for key in ("shuffle_label", "render_on_device"):
        if config.get(key) is not None:
            validate.typed(config[key], bool, where, f"train_data_conf.{key}", fix)
    if config.get("fg_return") is not None:
        fg_return = validate.typed(config["fg_return"], dict, where, "train_data_conf.fg_return", fix)
        unknown = sorted(str(k) for k in fg_return if k not in ("dry", "dry_channel", "metadata"))
        if unknown:
            raise S5InputError(f"{where}: train_data_conf.fg_return has the unknown key(s) {unknown}; "
                               f"known: dry, dry_channel, metadata")
        for key in ("dry", "metadata"):
            if key in fg_return:
                validate.typed(fg_return[key], bool, where, f"train_data_conf.fg_return.{key}", fix)
        if "dry_channel" in fg_return:
            validate.number(fg_return["dry_channel"], where, "train_data_conf.fg_return.dry_channel",
                            lo=0, hi=3, integer=True, fix=fix)
    validate.number(scene["duration"], where, f"{sk}.duration", lo=0, lo_open=True, fix=fix)
    validate.number(scene["sr"], where, f"{sk}.sr", lo=1, integer=True, fix=fix)
    validate.number(scene["max_event_overlap"], where, f"{sk}.max_event_overlap", lo=1, integer=True, fix=fix)
    validate.number(scene["max_event_dur"], where, f"{sk}.max_event_dur", lo=0, lo_open=True, fix=fix)
    validate.number(scene["ref_db"], where, f"{sk}.ref_db", fix=fix)
    validate.typed(scene["foreground_dir"], str, where, f"{sk}.foreground_dir", fix)
    for key in ("background_dir", "interference_dir"):
        if scene.get(key) is not None:
            validate.typed(scene[key], str, where, f"{sk}.{key}", fix)
    if "verbose" in scene:
        validate.typed(scene["verbose"], bool, where, f"{sk}.verbose", fix)
    for key in ("module", "main"):
        if key in room:
            validate.typed(room[key], str, where, f"{sk}.room_config.{key}", fix)
    validate.keys(room["args"], ("path",), where, f"{sk}.room_config.args", fix)
    validate.typed(room["args"]["path"], str, where, f"{sk}.room_config.args.path", fix)
    if "direct_range_ms" in room["args"]:
        check_direct_range(room["args"]["direct_range_ms"], where, f"{sk}.room_config.args.direct_range_ms", fix)
    gen = generator_config(config)
    for key, integer, lo in (("nevent_range", True, 0), ("ninterference_range", True, 0),
                             ("snr_range", False, None), ("inteference_snr_range", False, None)):
        pair = validate.typed(gen[key], list, where, f"train_data_conf.{key}", fix)
        if len(pair) != 2:
            raise S5InputError(f"{where}: train_data_conf.{key} = {pair!r} is not a [low, high] pair; {fix}")
        lo_hi = [validate.number(v, where, f"train_data_conf.{key}[{i}]", lo=lo, integer=integer, fix=fix)
                 for i, v in enumerate(pair)]
        if lo_hi[0] > lo_hi[1]:
            raise S5InputError(f"{where}: train_data_conf.{key} = {pair!r} has low > high; {fix}")
    validate.probability(gen["dupse_rate"], where, "train_data_conf.dupse_rate", fix)
    validate.number(gen["max_n_dupse"], where, "train_data_conf.max_n_dupse", lo=1, integer=True, fix=fix)
    validate.number(gen["dupse_min_angle"], where, "train_data_conf.dupse_min_angle", lo=0, hi=180, fix=fix)
    validate.number(gen["dupse_exclusion_folder_depth"], where, "train_data_conf.dupse_exclusion_folder_depth",
                    lo=0, integer=True, fix=fix)
    if "dataset_length" in config:
        validate.number(config["dataset_length"], where, "train_data_conf.dataset_length", lo=1, integer=True,
                        fix=fix)
    for key in ("rir_cache_mb", "source_cache_mb"):
        if key in config:
            validate.number(config[key], where, f"train_data_conf.{key}", lo=0, fix=fix)
    if "rir_store_dir" in config:
        resolve_store_dir(config["rir_store_dir"], f"{where}: train_data_conf")


class Catalog:
    """Sorted listings of a role folder: ``labels`` (class folders) and ``files[label]`` (.wav, recursive)."""

    def __init__(self, root: Path, with_labels: bool):
        self.root = root
        if not root.is_dir():
            raise S5InputError(f"folder not found: {root}")
        if with_labels:
            self.labels = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
            self.files = {lab: _wavs(root / lab) for lab in self.labels}
            empty = [lab for lab, f in self.files.items() if not f]
            if empty:
                raise S5InputError(f"class folders without .wav files under {root}: {empty}")
        else:
            self.labels = []
            self.files = {"": _wavs(root)}
        if not any(self.files.values()) and not with_labels:
            raise S5InputError(f"no .wav files under {root}")


def _wavs(folder: Path) -> List[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.wav") if p.is_file())


def folder_key(rel_path: str, depth: int) -> Tuple[str, ...]:
    """Exclusion key of a file relative to its class folder: first ``depth`` folders, or the file itself."""
    parts = tuple(rel_path.split("/"))
    return parts[:depth] if 0 < depth < len(parts) else parts


def find_event_time(mixture_duration: float, event_duration: float, max_overlap: int,
                    existing: Sequence[Tuple[float, float]], rng: np.random.Generator) -> Optional[float]:
    """Onset such that no instant has more than ``max_overlap`` events of this list (SpAudSyn rule).

    ``existing`` = [(onset, duration)]. Returns None if there is no room.
    """
    if event_duration > mixture_duration:
        raise ValueError(f"event ({event_duration} s) longer than the mixture ({mixture_duration} s)")
    if len(existing) < max_overlap:
        return float(rng.uniform(0.0, mixture_duration - event_duration))
    # sweep: starts (+1) before ends (-1) at equal times, sentinel at the mixture end
    points = sorted([(s, 0, +1) for s, d in existing] + [(s + d, 1, -1) for s, d in existing]
                    + [(mixture_duration, 2, 0)])
    free, count, free_start = [], 0, 0.0
    for time, _, step in points:
        if step == 0:
            if count < max_overlap:
                free.append((free_start, time))
            break
        if step > 0 and count == max_overlap - 1:
            free.append((free_start, time))
        count += step
        if step < 0 and count == max_overlap - 1:
            free_start = time
    free = [(a, b) for a, b in free if b - a >= event_duration]
    if not free or event_duration == mixture_duration:
        return None
    a, b = free[int(rng.integers(len(free)))]
    return float(rng.uniform(a, b - event_duration))


def angle_deg(p: np.ndarray, q: np.ndarray) -> float:
    """Angle in degrees between two position vectors seen from the array origin."""
    den = float(np.linalg.norm(p) * np.linalg.norm(q))
    if den == 0.0:
        return 0.0
    return math.degrees(math.acos(max(-1.0, min(1.0, float(np.dot(p, q)) / den))))


def list_room_files(paths: CorpusPaths, stored: str) -> List[str]:
    """Stored paths of the rooms a scene config draws from: ``stored`` itself if it is a SOFA
    file, else the ``.sofa`` files of that folder, sorted (the index of a room is its place here)."""
    room_root = paths.resolve(stored)
    if room_root.is_file():
        return [stored]
    if not room_root.is_dir():
        raise S5InputError(f"room folder or SOFA file not found: {room_root}")
    folder = str(stored).rstrip("/")
    files = [f"{folder}/{p.name}" for p in sorted(room_root.iterdir()) if p.name.endswith(".sofa")]
    if not files:
        raise S5InputError(f"no .sofa files in {room_root}")
    return files


class SceneSampler:
    """Draws :class:`Scene` objects for one scene config (SpAudSyn keys) and generator config.

    Args:
        scene_config: SpAudSyn ``config`` dict (``duration``, ``sr``, ``max_event_overlap``,
            ``max_event_dur``, ``ref_db``, ``foreground_dir``, ``background_dir``,
            ``interference_dir``, ``room_config`` {module, main, args {path, direct_range_ms}}).
        gen_config: generator keys (see module docstring).
        corpus_root: folder that ``data/`` in stored paths maps to.
    """

    def __init__(self, scene_config: dict, gen_config: dict, corpus_root="data",
                 sources: Optional[SourceLoader] = None, rirs: Optional[RirCache] = None):
        self.config = {k: scene_config.get(k) for k in (
            "duration", "sr", "max_event_overlap", "max_event_dur", "ref_db", "foreground_dir",
            "background_dir", "interference_dir", "room_config")}
        self.config["verbose"] = False
        self.gen = generator_config(gen_config)
        self.paths = CorpusPaths(corpus_root)
        self.sources = sources or SourceLoader()
        self.rirs = rirs or RirCache()
        self.fg = Catalog(self.paths.resolve(self.config["foreground_dir"]), with_labels=True)
        self.interf = (Catalog(self.paths.resolve(self.config["interference_dir"]), with_labels=True)
                       if self.config.get("interference_dir") else None)
        self.bg = (Catalog(self.paths.resolve(self.config["background_dir"]), with_labels=False)
                   if self.config.get("background_dir") else None)
        room_args = self.config["room_config"]["args"]
        self.direct_range_ms = list(room_args.get("direct_range_ms", [6, 50]))
        self.room_files = list_room_files(self.paths, room_args["path"])
        if self.config["max_event_dur"] > self.config["duration"]:
            raise S5InputError(f"max_event_dur {self.config['max_event_dur']} > duration "
                               f"{self.config['duration']}; events must fit in the mixture")

    # ---- one scene ----
    def sample(self, rng: np.random.Generator) -> Scene:
        """Draw one scene (fg events in the order added; not yet sorted or shuffled)."""
        stored_room = self.room_files[int(rng.integers(len(self.room_files)))]
        room = self.rirs.room(self.paths.resolve(stored_room))
        fg: List[Event] = []
        n = _randint(rng, self.gen["nevent_range"])
        n_dup = 0
        if n >= 2 and rng.random() <= self.gen["dupse_rate"]:
            n_dup = int(rng.integers(1, min(n - 1, self.gen["max_n_dupse"]) + 1))
        for _ in range(n - n_dup):
            self._add_unique(rng, fg, room)
        ref_labels = [e.label for e in fg]
        for _ in range(n_dup):
            if not self._add_duplicate(rng, fg, room, ref_labels[int(rng.integers(len(ref_labels)))]):
                self._add_unique(rng, fg, room)
        ints: List[Event] = []
        if self.interf is not None:
            for _ in range(_randint(rng, self.gen["ninterference_range"])):
                label = self.interf.labels[int(rng.integers(len(self.interf.labels)))]
                self._add(rng, ints, self.interf, label, "interference", room,
                          self.interf.files[label], self.gen["inteference_snr_range"])
        bgs = self._background(rng, room.nchan)
        info = room.room_info(stored_room, self.direct_range_ms)
        return Scene(config=dict(self.config), fg_events=fg, bg_events=bgs, int_events=ints, room_info=info)

    def _add_unique(self, rng, fg: List[Event], room) -> None:
        used = {e.label for e in fg}
        free = [lab for lab in self.fg.labels if lab not in used]
        if not free:
            logger.warning("no class left for a new target event; scene gets fewer events")
            return
        label = free[int(rng.integers(len(free)))]
        self._add(rng, fg, self.fg, label, "foreground", room, self.fg.files[label], self.gen["snr_range"])

    def _add_duplicate(self, rng, fg: List[Event], room, label: str) -> bool:
        same = [e for e in fg if e.label == label]
        depth = int(self.gen["dupse_exclusion_folder_depth"])
        used_files = {e.source_file.split("/", 1)[1] for e in same}
        used_keys = {folder_key(f, depth) for f in used_files}
        files = [f for f in self.fg.files[label]
                 if f not in used_files and folder_key(f, depth) not in used_keys]
        same_pos = [np.asarray(e.event_position, dtype=np.float64).reshape(3) for e in same]
        positions = [i for i, p in enumerate(room.positions)
                     if all(angle_deg(p, q) > self.gen["dupse_min_angle"] for q in same_pos)]
        if not files or not positions:
            logger.warning("cannot add a same-class duplicate of %s (%d files, %d positions allowed); "
                           "adding a new class instead", label, len(files), len(positions))
            return False
        return self._add(rng, fg, self.fg, label, "foreground", room, files, self.gen["snr_range"],
                         position_indices=positions)

    def _add(self, rng, events: List[Event], catalog: Catalog, label: str, role: str, room,
             files: Sequence[str], snr_range, position_indices: Optional[List[int]] = None) -> bool:
        """Add one event (SpAudSyn add_event with max_try 1); False if no onset fits."""
        rel = files[int(rng.integers(len(files)))]
        file_dur = self.sources.duration(catalog.root / label / rel)
        max_dur = float(self.config["max_event_dur"])
        source_time = float(rng.uniform(0.0, file_dur - max_dur)) if file_dur > max_dur else 0
        event_dur = min(file_dur, max_dur)
        onset = find_event_time(float(self.config["duration"]), event_dur,
                                int(self.config["max_event_overlap"]),
                                [(e.event_time, e.event_duration) for e in events], rng)
        if onset is None:
            logger.warning("NO EVENT ADDED: no onset for a %.2f s %s event", event_dur, role)
            return False
        candidates = position_indices if position_indices is not None else range(room.nrir)
        idx = list(candidates)[int(rng.integers(len(candidates)))]
        events.append(Event(label=label, source_file=f"{label}/{rel}", source_time=source_time,
                            event_time=onset, event_duration=event_dur,
                            event_position=[room.positions[idx].tolist()],
                            snr=float(rng.uniform(*snr_range)), role=role))
        return True

    def _background(self, rng, nchan: int) -> List[Event]:
        if self.bg is None:
            return []
        files = self.bg.files[""]
        rel = files[int(rng.integers(len(files)))]
        path = self.bg.root / rel
        info = self.sources.info(path)
        if info.channels != nchan:
            logger.warning("NO BACKGROUND ADDED: %s has %d channels, the room %d", path, info.channels, nchan)
            return []
        dur = info.frames / info.samplerate
        duration = float(self.config["duration"])
        source_time = int(math.floor(rng.uniform(0.0, dur - duration))) if dur > duration else None
        return [Event(label=None, source_file=rel, source_time=source_time, event_time=0,
                      event_duration=duration, event_position=None, snr=0, role="background")]


def _randint(rng: np.random.Generator, lo_hi: Sequence[int]) -> int:
    """Inclusive integer draw like random.randint(lo, hi)."""
    lo, hi = int(lo_hi[0]), int(lo_hi[1])
    return int(rng.integers(lo, hi + 1))


def scene_rng(*keys: int) -> np.random.Generator:
    """numpy Generator seeded from ``SeedSequence(keys)``, e.g. scene_rng(seed, epoch, index)."""
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))

