"""Torch datasets of S5 mixtures: on the fly, from metadata JSON, or from a stage-3 data dir.

Every dataset returns the same item dict (baseline DatasetS3):
  name          str
  mixture       float32 tensor [C, T]
  labels        list of n_sources str, 'silence'-padded
  label_vector  'stack': one-hot [n_sources, 19] (AT) | 'concat': [n_sources * 18] (SS)
  dry_sources   float32 tensor [n_sources, 1, T] (only with return_source)
  activity      float32 tensor [n_sources, K] per-slot frame activity (only with return_activity;
                frames of :mod:`espnet2_ext.s5.activity`: event times of a scene, oracle-target
                waveforms of a data dir)

(``GenerateDataset(render_on_device=True)``: ``render_*`` arrays instead of mixture and
dry_sources, see :mod:`espnet2_ext.synth.unrendered`.)

Training reads them through :class:`espnet2_ext.tasks.s5_data.EspnetItems` and the task's one
collate function (:func:`espnet2_ext.tasks.iter_factory.s5_collate`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import read_wav
from espnet2_ext.s5.activity import scene_activity, waveform_activity
from espnet2_ext.s5.official import LABELS_FILE, N_CHANNELS, N_SLOTS, SAMPLE_RATE, SOURCE_CHANNELS, WAV_SCP, spk_scp
from espnet2_ext.s5.labels import SILENCE, check_label, labels_to_query, labels_to_stack, pad_labels
from espnet2_ext.synth.rir_store import RirStore, resolve_store_dir
from espnet2_ext.synth.room import RirCache
from espnet2_ext.synth.sampler import SceneSampler, scene_rng
from espnet2_ext.synth.render import SceneRenderer
from espnet2_ext.synth.scene import Scene, read_metadata_list
from espnet2_ext.synth.sources import SourceLoader
from espnet2_ext.synth.unrendered import unrendered_arrays

PathLike = Union[str, Path]
LABEL_VECTOR_MODES = ("stack", "concat")


def make_item(name: str, mixture: np.ndarray, labels: Sequence[str], dry: Optional[np.ndarray],
              n_sources: int, label_vector_mode: str, activity: Optional[np.ndarray] = None) -> dict:
    """Assemble an item dict; ``dry`` [n_labels, 1, T] is padded with zeros to n_sources (kept as
    is when it has n_sources rows already); ``activity`` [n_sources, K], when given, is stored as is."""
    item = label_fields(name, labels, n_sources, label_vector_mode)
    item["mixture"] = torch.from_numpy(np.ascontiguousarray(mixture, dtype=np.float32))
    if dry is not None:
        if len(dry) != n_sources:
            padded = np.zeros((n_sources, 1, mixture.shape[-1]), dtype=np.float32)
            padded[:len(dry)] = dry
            dry = padded
        item["dry_sources"] = torch.from_numpy(np.ascontiguousarray(dry, dtype=np.float32))
    if activity is not None:
        item["activity"] = torch.from_numpy(np.ascontiguousarray(activity, dtype=np.float32))
    return item


def label_fields(name: str, labels: Sequence[str], n_sources: int, label_vector_mode: str) -> dict:
    """``name``, ``labels`` ('silence'-padded to n_sources) and ``label_vector`` of an item."""
    if label_vector_mode not in LABEL_VECTOR_MODES:
        raise ValueError(f"label_vector_mode must be one of {LABEL_VECTOR_MODES}, got {label_vector_mode!r}")
    padded = pad_labels(labels, n_sources)
    to_vector = labels_to_stack if label_vector_mode == "stack" else labels_to_query
    return {"name": name, "labels": padded, "label_vector": to_vector(padded, n_sources)}


class _SceneDataset(torch.utils.data.Dataset):
    """Common part of the generate/metadata datasets: rendering a Scene into an item."""

    def __init__(self, corpus_root: PathLike, n_sources: int, label_vector_mode: str,
                 return_source: bool, dry_channel: int, rir_cache_mb: float, source_cache_mb: float,
                 return_activity: bool = False, rir_store_dir: Optional[PathLike] = None):
        self.n_sources = n_sources
        self.return_activity = return_activity
        self.label_vector_mode = label_vector_mode
        self.return_source = return_source
        self.dry_channel = dry_channel
        folder = resolve_store_dir(rir_store_dir)
        rirs = RirCache(rir_cache_mb, store=None if folder is None else RirStore(folder))
        self.renderer = SceneRenderer(corpus_root, SourceLoader(source_cache_mb), rirs)

    def _slots(self, name: str, scene: Scene, order: Optional[Sequence[int]]) -> Tuple[List[int], List[str]]:
        """(fg event of each slot, its label)."""
        order = list(order) if order is not None else list(range(len(scene.fg_events)))
        if len(order) > self.n_sources:
            raise S5InputError(f"{name}: {len(order)} target events but n_sources={self.n_sources}")
        return order, [check_label(scene.fg_events[i].label, name) for i in order]

    def _activity(self, scene: Scene, order: Sequence[int]) -> np.ndarray:
        """Frame activity [n_sources, K] float32 of the slots, from the event times."""
        return np.ascontiguousarray(scene_activity(scene.fg_events, order, self.n_sources, scene.n_samples,
                                                   scene.sr), dtype=np.float32)

    def _item(self, name: str, scene: Scene, order: Optional[Sequence[int]] = None) -> dict:
        order, labels = self._slots(name, scene, order)
        slots = list(order) + [None] * (self.n_sources - len(order))          # dry rows in slot order
        out = self.renderer.render(scene, return_dry=self.return_source, dry_channel=self.dry_channel,
                                   dry_slots=slots)
        activity = self._activity(scene, order) if self.return_activity else None
        return make_item(name, out.mixture, labels, out.dry, self.n_sources, self.label_vector_mode, activity)


class GenerateDataset(_SceneDataset):
    """On-the-fly training mixtures (official ``mode: generate``); item = f(seed, epoch, index).

    Args:
        config: the official dataset ``config``: ``spatial_sound_scene`` (SpAudSyn keys; or the
            same keys at top level), ``dataset_length``, generator keys (nevent_range,
            ninterference_range, snr_range, inteference_snr_range, dupse_rate, max_n_dupse,
            dupse_min_angle, dupse_exclusion_folder_depth), ``shuffle_label``,
            ``fg_return`` {dry_channel}, ``rir_store_dir`` (a node-wide store of RIR spectra
            shared by the loader processes: :mod:`espnet2_ext.synth.rir_store`; default none).
        corpus_root: the folder that ``data/`` in the config paths maps to.
        seed: base seed; call :meth:`set_epoch` before each epoch (workers must be re-created,
            i.e. ``persistent_workers=False``, to see the new epoch).
        render_on_device: items carry the ``render_*`` arrays (clips, onsets, SNRs, positions,
            room, background: :mod:`espnet2_ext.synth.unrendered`) instead of ``mixture`` and
            ``dry_sources``; the training wrapper renders them on its device.
        return_activity: items also carry the slots' frame activity from the event times.
    """

    def __init__(self, config: dict, corpus_root: PathLike = "data", n_sources: int = N_SLOTS,
                 label_vector_mode: str = "concat", return_source: bool = True, seed: int = 0,
                 rir_cache_mb: float = 512, source_cache_mb: float = 128, render_on_device: bool = False,
                 return_activity: bool = False):
        dry_channel = int((config.get("fg_return") or {}).get("dry_channel", 0))
        super().__init__(corpus_root, n_sources, label_vector_mode, return_source, dry_channel,
                         rir_cache_mb, source_cache_mb, return_activity, config.get("rir_store_dir"))
        scene_config = config.get("spatial_sound_scene", config)
        self.sampler = SceneSampler(scene_config, config, corpus_root,
                                    self.renderer.sources, self.renderer.rirs)
        if int(self.sampler.gen["nevent_range"][1]) > n_sources:
            raise S5InputError(f"nevent_range {self.sampler.gen['nevent_range']} exceeds n_sources={n_sources}")
        self.length = int(config.get("dataset_length", 1000))
        self.shuffle_label = bool(config.get("shuffle_label", True))
        self.seed = int(seed)
        self.epoch = 0
        self.render_on_device = bool(render_on_device)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def scene(self, index: int):
        """(scene, slot order) of item ``index`` in the current epoch."""
        rng = scene_rng(self.seed, self.epoch, index)
        scene = self.sampler.sample(rng)
        n = len(scene.fg_events)
        order = rng.permutation(n).tolist() if self.shuffle_label else sorted(
            range(n), key=lambda i: scene.fg_events[i].event_time)
        return scene, order

    def __getitem__(self, index: int) -> dict:
        scene, order = self.scene(index)
        name = f"soundscape_{index:08d}"
        if not self.render_on_device:
            return self._item(name, scene, order)
        order, labels = self._slots(name, scene, order)
        room_index = self.sampler.room_files.index(scene.room_info["sofa_path"])
        item = {**label_fields(name, labels, self.n_sources, self.label_vector_mode),
                **unrendered_arrays(self.renderer, scene, order, room_index)}
        if self.return_activity:
            item["activity"] = torch.from_numpy(self._activity(scene, order))
        return item


class MetadataDataset(_SceneDataset):
    """Validation mixtures re-synthesized from ``metadata/valid.json`` (official ``mode: metadata``).

    Slot order = fg events as stored (sorted by onset), then silence. Names ``soundscape_%04d``.
    """

    def __init__(self, metadata_list: PathLike, corpus_root: PathLike = "data", n_sources: int = N_SLOTS,
                 label_vector_mode: str = "concat", return_source: bool = True, dry_channel: int = 0,
                 rir_cache_mb: float = 512, source_cache_mb: float = 128, return_activity: bool = False,
                 rir_store_dir: Optional[PathLike] = None):
        super().__init__(corpus_root, n_sources, label_vector_mode, return_source, dry_channel,
                         rir_cache_mb, source_cache_mb, return_activity, rir_store_dir)
        self.metadata_files = read_metadata_list(metadata_list)

    def __len__(self) -> int:
        return len(self.metadata_files)

    def __getitem__(self, index: int) -> dict:
        return self._item(f"soundscape_{index:04d}", Scene.from_metadata(self.metadata_files[index]))


def read_scp(path: Path) -> Dict[str, str]:
    """Kaldi ``<id> <value>`` file -> ordered dict."""
    out: Dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise S5InputError(f"{path}:{n}: expected '<id> <value>', got {line!r}")
        out[parts[0]] = parts[1]
    return out


class DataDirDataset(torch.utils.data.Dataset):
    """Items from a stage-3 data dir (wav.scp, labels, spk1..N.scp; eval: wav.scp only).

    Without a ``labels`` file an item has only ``name`` and ``mixture``. ``return_activity``:
    items also carry the slots' frame activity, measured on the oracle targets (the data dir
    keeps no event times; :func:`espnet2_ext.s5.activity.waveform_activity`).
    """

    def __init__(self, data_dir: PathLike, n_sources: int = N_SLOTS, label_vector_mode: str = "concat",
                 return_source: bool = True, sr: Optional[int] = SAMPLE_RATE,
                 channels: Optional[int] = N_CHANNELS, return_activity: bool = False):
        self.dir = Path(data_dir)
        wav_scp = self.dir / WAV_SCP
        if not wav_scp.is_file():
            raise S5InputError(f"{wav_scp} not found; run stage 3 (local/synthesize.sh) first")
        self.wavs = read_scp(wav_scp)
        self.ids = list(self.wavs)
        self.labels = ({k: v.split() for k, v in read_scp(self.dir / LABELS_FILE).items()}
                       if (self.dir / LABELS_FILE).is_file() else None)
        self.spk = []
        if (return_source or return_activity) and self.labels is not None:
            for k in range(1, n_sources + 1):
                scp = self.dir / spk_scp(k)
                if not scp.is_file():
                    raise S5InputError(f"{scp} not found but the oracle targets are needed "
                                       f"(return_source / return_activity)")
                self.spk.append(read_scp(scp))
        self.n_sources, self.label_vector_mode = n_sources, label_vector_mode
        self.return_source, self.sr, self.channels = return_source, sr, channels
        self.return_activity = return_activity
        if self.labels is not None:
            self._check_tables()

    def _check_tables(self) -> None:
        """Every soundscape has a labels row of ``n_sources`` known labels and, for each
        non-silent slot, an oracle target in its spk<k>.scp (an error names the file and id)."""
        fix = "re-create the data dir (stage 3: s5_synthesize datadir)"
        labels_file = self.dir / LABELS_FILE
        for uid in self.ids:
            if uid not in self.labels:
                raise S5InputError(f"{labels_file}: no row for {uid} of {self.dir / WAV_SCP}; {fix}")
        for uid, labels in self.labels.items():
            if uid not in self.wavs:
                raise S5InputError(f"{labels_file}: {uid} is not in {self.dir / WAV_SCP}; {fix}")
            if len(labels) != self.n_sources:
                raise S5InputError(f"{labels_file}: {uid} has {len(labels)} labels, expected {self.n_sources} "
                                   f"(padded with {SILENCE}); {fix}")
            for lab in labels:
                if lab != SILENCE:
                    try:
                        check_label(lab)
                    except ValueError as e:
                        raise S5InputError(f"{labels_file}: {uid} has the unknown label {lab!r}; {fix}") from e
            for k, scp in enumerate(self.spk):
                if labels[k] != SILENCE and scp.get(uid, "-") == "-":
                    raise S5InputError(f"{self.dir / spk_scp(k + 1)}: no oracle target for {uid} "
                                       f"(label {labels[k]}); {fix}")

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict:
        uid = self.ids[index]
        mixture, _ = read_wav(self.wavs[uid], sr=self.sr, channels=self.channels, what="mixture")
        if self.labels is None:
            return {"name": uid, "mixture": torch.from_numpy(mixture)}
        labels = self.labels[uid]
        dry = None
        if self.return_source or self.return_activity:
            dry = np.zeros((len(labels), 1, mixture.shape[-1]), dtype=np.float32)
            for k, lab in enumerate(labels):
                if lab != SILENCE:
                    ref, _ = read_wav(self.spk[k][uid], sr=self.sr, channels=SOURCE_CHANNELS, what="oracle target")
                    n = min(ref.shape[-1], mixture.shape[-1])
                    dry[k, :, :n] = ref[:, :n]
        activity = waveform_activity(dry) if self.return_activity else None
        return make_item(uid, mixture, labels, dry if self.return_source else None, self.n_sources,
                         self.label_vector_mode, activity)
