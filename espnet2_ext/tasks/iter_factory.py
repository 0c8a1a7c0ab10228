"""Epoch iterators for index-addressed S5 datasets (on-the-fly or data-dir).

Our datasets return ``(uid, {name: np.ndarray})`` for an integer index, and an
on-the-fly item is a pure function of ``(seed, epoch, index)``. The factory
tells the dataset the epoch, cuts the index range into batches and, under DDP,
gives every rank its ``batch[rank::world_size]`` share (espnet2's convention).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from espnet2_ext.espnet_compat import quiet_import

AbsIterFactory = quiet_import("espnet2.iterators.abs_iter_factory").AbsIterFactory

Batch = Tuple[List[str], Dict[str, torch.Tensor]]


def s5_collate(items: Sequence[Tuple[str, Dict[str, np.ndarray]]]) -> Batch:
    """Stack same-shaped numpy arrays: [(uid, {k: [...]})] -> (uids, {k: Tensor[B, ...]})."""
    uids = [uid for uid, _ in items]
    keys = items[0][1].keys()
    return uids, {k: torch.as_tensor(np.stack([d[k] for _, d in items])) for k in keys}


class S5IterFactory(AbsIterFactory):
    """Build one DataLoader per epoch over ``range(len(dataset))``.

    Args:
        dataset: indexable dataset; if it has ``set_epoch(epoch)`` it is called first.
        batch_size: items per (global) batch.
        shuffle: shuffle the index order with ``seed + epoch`` (train data dirs).
        num_workers: DataLoader workers (items stay identical for any worker count).
        rank, world_size: DDP position; each rank takes ``batch[rank::world_size]``.
    """

    def __init__(self, dataset: Dataset, batch_size: int, shuffle: bool = False,
                 num_workers: int = 0, seed: int = 0, rank: int = 0, world_size: int = 1,
                 collate_fn: Callable = s5_collate, pin_memory: bool = False):
        if batch_size < world_size:
            raise ValueError(f"batch_size {batch_size} must be >= the number of DDP workers {world_size}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.num_workers = num_workers
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.collate_fn = collate_fn
        self.pin_memory = pin_memory

    def batches(self, epoch: int, shuffle: Optional[bool] = None) -> List[List[int]]:
        """The index batches of ``epoch`` for this rank."""
        order = np.arange(len(self.dataset))
        if self.shuffle if shuffle is None else shuffle:
            order = np.random.RandomState(self.seed + epoch).permutation(order)
        out = []
        for i in range(0, len(order), self.batch_size):
            b = order[i:i + self.batch_size]
            if len(b) < self.world_size:  # a tail too small to share among ranks
                continue
            out.append([int(j) for j in b[self.rank::self.world_size]])
        return out

    def build_iter(self, epoch: int, shuffle: Optional[bool] = None) -> DataLoader:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        return DataLoader(
            self.dataset, batch_sampler=self.batches(epoch, shuffle),
            num_workers=self.num_workers, collate_fn=self.collate_fn,
            pin_memory=self.pin_memory,
        )
