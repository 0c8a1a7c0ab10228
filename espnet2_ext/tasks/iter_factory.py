"""Epoch iterators for index-addressed S5 datasets (on-the-fly or data-dir).

Our datasets return ``(uid, {name: array})`` for an integer index, and an on-the-fly
item is a pure function of ``(seed, epoch, index)``. The factory tells the dataset the
epoch and cuts the index range into batches.

Batch semantics (the official one, *not* espnet2's global batch): ``batch_size`` is
the number of items **per rank** (per GPU, or per CPU process), so an update sees
``batch_size x world_size x accum_grad`` items, as in the official Lightning runs
(4 GPUs x 32 for the tagger). Under DDP, rank ``r`` of ``W`` takes items
``order[r::W]`` of the epoch, so the ranks see disjoint items that together cover the
epoch:

* training (``pad=True``): the order is padded with its own first items up to a
  multiple of ``W`` (as torch's ``DistributedSampler`` does), so every rank runs the
  same number of steps, which DDP requires;
* validation (``pad=False``): no padding, every item is seen exactly once whatever
  ``W``; ranks may then run different numbers of batches, which is fine because the
  validation pass does no collective call per step (see ``S5Trainer``).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from espnet2_ext.espnet_compat import quiet_import
from espnet2_ext.synth.unrendered import UNRENDERED_KEYS, pad_stack

AbsIterFactory = quiet_import("espnet2.iterators.abs_iter_factory").AbsIterFactory

Batch = Tuple[List[str], Dict[str, torch.Tensor]]


def s5_collate(items: Sequence[Tuple[str, Dict[str, object]]]) -> Batch:
    """Stack same-shaped arrays or tensors: [(uid, {k: [...]})] -> (uids, {k: Tensor[B, ...]});
    the ``render_*`` arrays of unrendered items (events, clips) are zero-padded to the longest."""
    uids = [uid for uid, _ in items]
    keys = items[0][1].keys()
    return uids, {k: (pad_stack if k in UNRENDERED_KEYS else torch.stack)([torch.as_tensor(d[k]) for _, d in items])
                  for k in keys}


def rank_share(n_items: int, rank: int, world_size: int, pad: bool) -> np.ndarray:
    """Positions ``[0, n_items)`` of the epoch order that rank ``rank`` of ``world_size`` takes.

    ``pad``: wrap around to the first positions so that every rank gets
    ``ceil(n_items / world_size)`` items (training); else each position goes to exactly
    one rank (validation)."""
    positions = np.arange(n_items)
    if pad and n_items and n_items % world_size:
        positions = np.concatenate([positions, positions[:world_size - n_items % world_size]])
    return positions[rank::world_size]


class S5IterFactory(AbsIterFactory):
    """Build one DataLoader per epoch over ``range(len(dataset))``.

    Args:
        dataset: indexable dataset; if it has ``set_epoch(epoch)`` it is called first.
        batch_size: items per batch **on this rank** (see the module docstring).
        shuffle: shuffle the index order with ``seed + epoch`` (train data dirs).
        num_workers: DataLoader workers (items stay identical for any worker count).
        rank, world_size: DDP position.
        pad: pad the epoch to a multiple of ``world_size`` (training) or not (validation).
    """

    def __init__(self, dataset: Dataset, batch_size: int, shuffle: bool = False,
                 num_workers: int = 0, seed: int = 0, rank: int = 0, world_size: int = 1,
                 collate_fn: Callable = s5_collate, pin_memory: bool = False, pad: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.num_workers = num_workers
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.collate_fn = collate_fn
        self.pin_memory = pin_memory
        self.pad = pad

    def batches(self, epoch: int, shuffle: Optional[bool] = None) -> List[List[int]]:
        """The index batches of ``epoch`` for this rank."""
        order = np.arange(len(self.dataset))
        if self.shuffle if shuffle is None else shuffle:
            order = np.random.RandomState(self.seed + epoch).permutation(order)
        mine = order[rank_share(len(order), self.rank, self.world_size, self.pad)]
        return [[int(j) for j in mine[i:i + self.batch_size]] for i in range(0, len(mine), self.batch_size)]

    def build_iter(self, epoch: int, shuffle: Optional[bool] = None) -> DataLoader:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return DataLoader(
            self.dataset, batch_sampler=self.batches(epoch, shuffle),
            num_workers=self.num_workers, collate_fn=self.collate_fn,
            pin_memory=self.pin_memory,
        )
