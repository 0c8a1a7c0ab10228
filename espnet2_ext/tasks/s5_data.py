"""Datasets for the S5 espnet2 tasks: synthesizer items -> ``(uid, {name: tensor})``.

Training items are synthesized on the fly (:class:`GenerateDataset`, the
official ``generate`` mode); validation items come from a stage-3 data
directory (:class:`DataDirDataset`). espnet2's trainer only sees the tensors
named by the task (``mixture``, ``label_vector`` and, for separation,
``dry_sources``).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch.utils.data import Dataset

from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.official import SAMPLE_RATE, WAV_SCP
from espnet2_ext.synth.dataset import DataDirDataset, GenerateDataset
from espnet2_ext.synth.sampler import check_generate_config
from espnet2_ext.synth.torch_render import DeviceRenderer
from espnet2_ext.synth.unrendered import RENDERED_KEYS, UNRENDERED_KEYS


class EspnetItems(Dataset):
    """View of a synthesizer dataset as ``(uid, {name: tensor})`` items (float32; the ``render_*``
    arrays of unrendered training items keep their dtypes)."""

    def __init__(self, base: Dataset, names: Sequence[str]):
        self.base = base
        self.names = tuple(names)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> Tuple[str, Dict[str, torch.Tensor]]:
        """Audio and label vectors as float32; the ``render_*`` arrays keep their dtypes."""
        item = self.base[index]
        return item["name"], {k: torch.as_tensor(item[k]) if k in UNRENDERED_KEYS else
                              torch.as_tensor(item[k], dtype=torch.float32) for k in self.names}


#: per-process synthesis caches (MB) unless train_data_conf sets rir_cache_mb / source_cache_mb
DEFAULT_RIR_CACHE_MB, DEFAULT_SOURCE_CACHE_MB = 512.0, 128.0


def cache_sizes_mb(train_data_conf: dict) -> Tuple[float, float]:
    """(RIR-spectrum cache, decoded-clip cache) in MB per data-loading process. With
    ``render_on_device`` the RIR spectra live on the training device (``rir_cache_mb`` per
    rank, :mod:`espnet2_ext.synth.torch_render`), none in the data-loading processes."""
    rir = 0.0 if train_data_conf.get("render_on_device") else float(
        train_data_conf.get("rir_cache_mb", DEFAULT_RIR_CACHE_MB))
    return rir, float(train_data_conf.get("source_cache_mb", DEFAULT_SOURCE_CACHE_MB))


def node_memory_mb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 20


#: per data-loading process, beside its caches and batches: the renderer's scratch buffers (placed
#: clips, their spectra, the products and the inverse transforms of (events + 4 + dry) rows of
#: 524,288 points at 10 s + 5.46 s RIRs: <= 48 MB at the official settings) and its committed
#: transform descriptors (synth.fft.MAX_PLANS x ~4.3 MB)
RENDER_WORK_MB = 96.0
#: copies of a batch a worker holds at once: its items, the collated batch, the copy to the
#: shared memory the main process reads (benchmarks/loader_scale.py measured the sum)
BATCH_COPIES = 3
#: audio channels of an item at most: the 4-channel mixture and 3 mono dry targets
ITEM_CHANNELS = 7


def batch_mb(train_data_conf: dict, batch_size: int) -> float:
    """MB of the audio of one batch of ``batch_size`` items (float32, ITEM_CHANNELS channels)."""
    scene = train_data_conf.get("spatial_sound_scene", train_data_conf)
    samples = float(scene.get("duration", 10.0)) * float(scene.get("sr", SAMPLE_RATE))
    return batch_size * ITEM_CHANNELS * samples * 4 / 2 ** 20


def check_loader_memory(train_data_conf: dict, num_workers: int, ranks_on_node: int,
                        node_mb: Optional[float] = None, batch_size: int = 1) -> str:
    """Log (and return) the most memory the data loading of this node can take; stop if it
    would not fit.

    Each data-loading process (``num_workers`` per rank, or the rank itself when 0) keeps its
    own byte-bounded caches and builds whole batches, so the node holds up to
    ``ranks_on_node x max(num_workers, 1) x (rir_cache_mb + source_cache_mb + BATCH_COPIES x
    batch + RENDER_WORK_MB)`` (:func:`batch_mb`; benchmarks/loader_scale.py measures the
    private memory of real workers against it). Over 80 % of the node's memory is an error,
    over 50 % a warning."""
    rir, src = cache_sizes_mb(train_data_conf)
    work = BATCH_COPIES * batch_mb(train_data_conf, batch_size) + RENDER_WORK_MB
    procs = ranks_on_node * max(num_workers, 1)
    total, node = procs * (rir + src + work), node_memory_mb() if node_mb is None else node_mb
    msg = (f"data loading: {ranks_on_node} rank(s) on this node x {max(num_workers, 1)} process(es) x "
           f"(RIR cache {rir:g} MB + clip cache {src:g} MB + batches and buffers {work:.0f} MB) = "
           f"{total / 1024:.1f} GB at most; this node has {node / 1024:.0f} GB")
    fix = ("lower num_workers, or train_data_conf.rir_cache_mb / source_cache_mb (e.g. --tag_args "
           "'--num_workers 4 --train_data_conf rir_cache_mb=256')")
    if total > 0.8 * node:
        raise S5InputError(f"{msg}: more than 80 % of the node's memory; {fix}")
    if total > 0.5 * node:
        logging.warning("%s: more than half of the node's memory; %s", msg, fix)
    else:
        logging.info(msg)
    return msg


def device_renderer(train_data_conf: Optional[dict], corpus_root: Optional[str]) -> Optional[DeviceRenderer]:
    """The renderer the training wrapper needs with ``render_on_device: true`` (its RIR cache on
    the device: ``rir_cache_mb``), else None."""
    if not (train_data_conf or {}).get("render_on_device"):
        return None
    return DeviceRenderer.from_train_data_conf(
        train_data_conf, corpus_root, float(train_data_conf.get("rir_cache_mb", DEFAULT_RIR_CACHE_MB)))


NO_TRAIN_DATA_CONF = "--train_data_conf is empty: give the synthesis settings (see conf/tuning/*.yaml)"
NO_VALID_DATA_DIR = "--valid_data_dir is required (a stage-3 data dir, e.g. data/valid)"


def check_data_args(train_data_conf: dict, valid_data_dir: Optional[str], where: str = "--train_data_conf"
                    ) -> None:
    """Cheap checks of the data arguments, so that training fails before it writes anything."""
    if not train_data_conf:
        raise S5InputError(NO_TRAIN_DATA_CONF)
    check_generate_config(train_data_conf, where)
    if not valid_data_dir:
        raise S5InputError(NO_VALID_DATA_DIR)
    if not (Path(valid_data_dir) / WAV_SCP).is_file():
        raise S5InputError(f"--valid_data_dir {valid_data_dir}: {Path(valid_data_dir) / WAV_SCP} not "
                           f"found; run stage 3 (local/synthesize.sh) first, or fix the path")
    DataDirDataset(valid_data_dir, return_source=False)    # checks the tables (labels, ids)


def build_s5_dataset(mode: str, train_data_conf: dict, valid_data_dir: Optional[str],
                     corpus_root: Optional[str], seed: int, label_vector_mode: str,
                     names: Sequence[str]) -> EspnetItems:
    """The train (on-the-fly) or valid (data dir) dataset of an S5 task, yielding ``names``
    (the task's data names; ``dry_sources`` / ``activity`` among them makes items carry the
    dry targets / the slots' frame activity). With ``train_data_conf.render_on_device`` the
    training items carry the ``render_*`` arrays instead of ``mixture`` / ``dry_sources``;
    validation is unchanged."""
    return_source, return_activity = "dry_sources" in names, "activity" in names
    if mode == "train":
        if not train_data_conf:
            raise S5InputError(NO_TRAIN_DATA_CONF)
        rir_mb, source_mb = cache_sizes_mb(train_data_conf)
        on_device = bool(train_data_conf.get("render_on_device", False))
        if on_device:   # the wrapper renders mixture and dry_sources from these (see torch_render)
            names = [k for k in names if k not in RENDERED_KEYS] + list(UNRENDERED_KEYS)
        base = GenerateDataset(dict(train_data_conf), corpus_root=corpus_root or "data",
                               label_vector_mode=label_vector_mode, return_source=return_source, seed=seed,
                               rir_cache_mb=rir_mb, source_cache_mb=source_mb, render_on_device=on_device,
                               return_activity=return_activity)
    elif mode == "valid":
        if not valid_data_dir:
            raise S5InputError(NO_VALID_DATA_DIR)
        base = DataDirDataset(valid_data_dir, label_vector_mode=label_vector_mode, return_source=return_source,
                              return_activity=return_activity)
    else:
        raise ValueError(f"unsupported mode {mode!r}")
    return EspnetItems(base, names)
