"""Scenes: event lists and SpAudSyn metadata JSON.

A :class:`Scene` is exactly the content of one SpAudSyn metadata file
(synthesizer_spec.md §5): ``config``, ``fg_events``, ``bg_events``, ``int_events``
and ``room``. Paths are stored as in the official metadata (``data/dev_set/...``)
and resolved with :class:`CorpusPaths` against the folder that holds ``dev_set/``.

Rendering: :mod:`espnet2_ext.synth.render`.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
from pathlib import Path
from typing import List, Optional, Union


from espnet2_ext import validate
from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import read_json
from espnet2_ext.s5.labels import CLASSES
from espnet2_ext.s5.official import SAMPLE_RATE

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
ROOM_MODULE = "src.modules.spatial_audio_synthesizer.room"  # as in the baseline configs
CONFIG_KEYS = ("duration", "sr", "max_event_overlap", "max_event_dur", "ref_db", "foreground_dir",
               "background_dir", "interference_dir", "room_config", "verbose")
MAX_SCENE_SECONDS = 600.0   # longer scenes are a corrupt duration (official: 10 s)
MIN_SR, MAX_SR = 1000, 192000   # sample rates outside are corrupt
MAX_DIRECT_MS = 1000.0      # the direct-path window (official: [6, 50] ms)
MAX_ABS_DB = 200.0          # levels and SNRs beyond +-200 dB are corrupt (they overflow the gains)
EVENT_KEYS = ("label", "source_file", "source_time", "event_time", "event_duration",
              "event_position", "snr", "role")


class CorpusPaths:
    """Maps stored paths (``data/dev_set/...``) to files under ``root`` (the folder holding dev_set/).

    Stored relative paths that start with ``data/`` are taken relative to ``root``
    without that prefix; other relative paths relative to ``root``; absolute paths as is.
    """

    PREFIX = "data/"

    def __init__(self, root: PathLike = "data"):
        self.root = Path(root)

    def resolve(self, stored: PathLike) -> Path:
        s = str(stored)
        if Path(s).is_absolute():
            return Path(s)
        if s.startswith(self.PREFIX):
            s = s[len(self.PREFIX):]
        return self.root / s

    def store(self, path: PathLike) -> str:
        """Inverse of :meth:`resolve` for a path under ``root`` -> ``data/<relative>``."""
        p = Path(path)
        try:
            return self.PREFIX + p.relative_to(self.root).as_posix()
        except ValueError:
            return str(p)


@dataclasses.dataclass
class Event:
    """One SpAudSyn event (metadata keys, same order as the official files)."""

    label: Optional[str]
    source_file: str               # relative to the role's folder
    source_time: Optional[float]   # s (float), int 0 for short clips / whole-second bg offset, None = tile
    event_time: float              # onset in the mixture, s
    event_duration: float          # s, without reverb tail
    event_position: Optional[list]  # [[x, y, z]] or None (background)
    snr: float                     # dB re ref_db
    role: str                      # foreground | interference | background

    def to_dict(self) -> dict:
        return {k: copy.deepcopy(getattr(self, k)) for k in EVENT_KEYS}

    @classmethod
    def from_dict(cls, d: dict) -> "Event":
        missing = [k for k in EVENT_KEYS if k not in d]
        if missing:
            raise S5InputError(f"event {d!r} lacks keys {missing}")
        return cls(**{k: d[k] for k in EVENT_KEYS})


def make_scene_config(duration: float, sr: int, max_event_overlap: int, max_event_dur: float,
                      ref_db: float, foreground_dir: str, background_dir: Optional[str],
                      interference_dir: Optional[str], room_dir: str,
                      direct_range_ms=(6, 50)) -> dict:
    """The SpAudSyn ``config`` dict (10 keys) with a SofaRoom ``room_config``."""
    return {"duration": duration, "sr": sr, "max_event_overlap": max_event_overlap,
            "max_event_dur": max_event_dur, "ref_db": ref_db, "foreground_dir": foreground_dir,
            "background_dir": background_dir, "interference_dir": interference_dir,
            "room_config": {"module": ROOM_MODULE, "main": "SofaRoom",
                            "args": {"path": room_dir, "direct_range_ms": list(direct_range_ms)}},
            "verbose": False}


@dataclasses.dataclass
class Scene:
    """A scene = one SpAudSyn metadata file. ``room_info`` = {sofa_path, sr, nchan, nrir, rir_len, direct_range_ms}."""

    config: dict
    fg_events: List[Event]
    bg_events: List[Event]
    int_events: List[Event]
    room_info: dict

    @property
    def sr(self) -> int:
        return int(self.config["sr"])

    @property
    def n_samples(self) -> int:
        return int(self.config["duration"] * self.config["sr"])

    @property
    def direct_range_ms(self) -> list:
        return list(self.room_info.get("direct_range_ms", [6, 50]))

    def to_metadata(self) -> dict:
        """SpAudSyn ``generate_metadata`` dict (fg/int sorted by onset)."""
        def by_onset(evs):
            return [e.to_dict() for e in sorted(evs, key=lambda e: e.event_time)]

        module = self.config.get("room_config", {}).get("module", ROOM_MODULE)
        return {"config": copy.deepcopy(self.config), "fg_events": by_onset(self.fg_events),
                "bg_events": [e.to_dict() for e in self.bg_events],
                "int_events": by_onset(self.int_events),
                "room": {"module": module, "main": "SofaRoom.from_metadata",
                         "args": {"metadata": copy.deepcopy(self.room_info)}}}

    @classmethod
    def from_metadata(cls, meta: Union[dict, PathLike]) -> "Scene":
        """Parse a metadata dict or JSON file (official format; fg/int order kept as stored)."""
        where = "metadata"
        if not isinstance(meta, dict):
            where = str(meta)
            meta = read_json(meta, "scene metadata")
        try:
            config = dict(meta["config"])
            info = dict(meta["room"]["args"]["metadata"])
            if "inteference_dir" in config and "interference_dir" not in config:
                config["interference_dir"] = config.pop("inteference_dir")
            # fg_events is required (a scene without it would silently render no target);
            # an absent bg_events / int_events list means no such events
            events = {k: [Event.from_dict(e) for e in (meta[k] if k == "fg_events" else meta.get(k, []))]
                      for k in ("fg_events", "bg_events", "int_events")}
            for key in ("duration", "sr", "ref_db"):
                config[key]
            info["sofa_path"]
        except (KeyError, TypeError, ValueError) as e:
            problem = f"missing {e}" if isinstance(e, KeyError) else f"a value of the wrong type: {e}"
            raise S5InputError(f"scene metadata {where} is malformed ({problem}); "
                               "expected the SpAudSyn keys config/fg_events/bg_events/int_events/room") from e
        except S5InputError as e:
            raise S5InputError(f"scene metadata {where}: {e}") from e
        _check_values(config, info, events, where)
        unknown = [ev.label for ev in events["fg_events"] if ev.label not in CLASSES]
        if unknown:
            raise S5InputError(f"scene metadata {where}: foreground label(s) {unknown} are not among "
                               f"the 18 target classes ({', '.join(CLASSES)}); fix the metadata")
        return cls(config=config, room_info=info, **events)


def _check_values(config: dict, info: dict, events: dict, where: str) -> None:
    """Types and ranges of the values the renderer uses (a negative onset, an onset past
    the end, a NaN SNR or a string duration would otherwise render a wrong mixture)."""
    where = f"scene metadata {where}"
    fix = "fix the metadata or re-create it (stage 3, local/make_metadata)"
    duration = validate.number(config["duration"], where, "config.duration", lo=0, lo_open=True,
                               hi=MAX_SCENE_SECONDS, fix=fix)
    validate.number(config["sr"], where, "config.sr", lo=MIN_SR, hi=MAX_SR, integer=True,
                    fix=f"the recipe renders {SAMPLE_RATE} Hz scenes; {fix}")
    validate.number(config["ref_db"], where, "config.ref_db", lo=-MAX_ABS_DB, hi=MAX_ABS_DB, fix=fix)
    validate.typed(info["sofa_path"], str, where, "room.args.metadata.sofa_path", fix)
    if "direct_range_ms" in info:
        check_direct_range(info["direct_range_ms"], where, "room.args.metadata.direct_range_ms", fix)
    for kind, evs in events.items():
        for i, ev in enumerate(evs):
            key = f"{kind}[{i}]"
            if ev.label is not None:
                validate.typed(ev.label, str, where, f"{key}.label", fix)
            validate.typed(ev.source_file, str, where, f"{key}.source_file", fix)
            validate.typed(ev.role, str, where, f"{key}.role", fix)
            if ev.source_time is not None:
                validate.number(ev.source_time, where, f"{key}.source_time", lo=0, fix=fix)
            validate.number(ev.event_time, where, f"{key}.event_time", lo=0, hi=duration, hi_open=True,
                            fix=f"an onset lies within the mixture (0 <= event_time < config.duration); {fix}")
            validate.number(ev.event_duration, where, f"{key}.event_duration", lo=0, lo_open=True, hi=duration,
                            fix=f"an event lasts at most config.duration; {fix}")
            validate.number(ev.snr, where, f"{key}.snr", lo=-MAX_ABS_DB, hi=MAX_ABS_DB, fix=fix)
            if kind != "bg_events":
                _check_position(ev.event_position, where, f"{key}.event_position", fix)


def check_direct_range(pair, where: str, key: str, fix: str) -> None:
    """The direct-path window ``[before, after]`` in ms: two numbers in [0, MAX_DIRECT_MS]."""
    validate.typed(pair, list, where, key, fix)
    if len(pair) != 2:
        raise S5InputError(f"{where}: {key} = {pair!r} is not a [before, after] pair of ms; {fix}")
    for i, value in enumerate(pair):
        validate.number(value, where, f"{key}[{i}]", lo=0, hi=MAX_DIRECT_MS, fix=fix)


def _check_position(position, where: str, key: str, fix: str) -> None:
    """``[[x, y, z]]`` or ``[x, y, z]`` of finite numbers."""
    point = position[0] if isinstance(position, list) and len(position) == 1 else position
    if not (isinstance(point, list) and len(point) == 3):
        raise S5InputError(f"{where}: {key} = {position!r} is not one [x, y, z] point; {fix}")
    for c, value in zip("xyz", point):
        validate.number(value, where, f"{key}.{c}", fix=fix)


def read_metadata_list(metadata_list: PathLike) -> List[Path]:
    """``valid.json`` ([{"metadata_path": "valid/x.json"}, ...]) -> absolute metadata paths."""
    path = Path(metadata_list)
    expected = "expected a JSON list of {\"metadata_path\": ...} objects"
    entries = read_json(path, "metadata list", fix=expected)
    try:
        return [path.parent / e["metadata_path"] for e in entries]
    except (KeyError, TypeError) as e:
        raise S5InputError(f"cannot read metadata list {path}: {e}; {expected}") from e
