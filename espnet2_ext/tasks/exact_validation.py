"""Validation statistics reduced exactly: sums and counts over every item, across ranks.

espnet2's validation loop averages each batch's statistics across ranks at every step
and stops every rank as soon as one runs out of batches, so with ``W`` ranks the tail
of the validation set is dropped and ratio statistics become means of means: the
validation loss (and with it the best epoch) would depend on the number of GPUs.

Here each rank runs the plain model (no DDP wrapper, so no collective call per step)
over its share of the items (every item on exactly one rank, see
:mod:`espnet2_ext.tasks.iter_factory`) and accumulates ``Σ stat x weight`` and
``Σ weight`` on the device; the ranks exchange these sums once at the end. A model
whose statistics are ratios of sums (the tagger's pooled source accuracy) recomputes
them from the summed parts in ``finalize_stats(means)``. The result equals a
single-process pass over the whole set up to float rounding.
"""
from __future__ import annotations

from typing import Dict, Iterable, Tuple

import torch

from espnet2_ext.espnet_compat import quiet_import

to_device = quiet_import("espnet2.torch_utils.device_funcs").to_device


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel / DataParallel wrapper (else ``model``)."""
    wrappers = (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)
    return model.module if isinstance(model, wrappers) else model


def _distributed() -> bool:
    dist = torch.distributed
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def sync_buffers_from_rank0(net: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics).

    Without SyncBatchNorm (CPU/gloo) each rank updates its running statistics from its
    own batches; DDP re-broadcasts them only at the next training forward. Validating
    with rank 0's buffers makes every rank evaluate the model that is saved."""
    if _distributed():
        for buffer in net.buffers():
            torch.distributed.broadcast(buffer, src=0)


def _merge_across_ranks(sums: Dict[str, float], count: float) -> Tuple[Dict[str, float], float]:
    """Add up every rank's ``(sums, count)`` (one collective call)."""
    dist = torch.distributed
    if not _distributed():
        return sums, count
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, (sums, count))
    total: Dict[str, float] = {}
    for rank_sums, _ in gathered:
        for k, v in rank_sums.items():
            total[k] = total.get(k, 0.0) + v
    return total, sum(c for _, c in gathered)


@torch.no_grad()
def validation_means(model: torch.nn.Module, iterator: Iterable, device: str,
                     autocast=None) -> Tuple[Dict[str, float], float]:
    """Exact item-weighted means of the model's statistics over a (distributed) set.

    ``model(**batch) -> (loss, stats {name: [1] or 0-dim}, weight)`` with per-item mean
    statistics and ``weight`` = items in the batch; ``autocast``: a context-manager
    factory for the forward (e.g. espnet2's under ``--use_amp``). Returns
    ``(means, number of items)`` over all ranks."""
    net = unwrap(model)
    net.eval()
    sync_buffers_from_rank0(net)
    sums: Dict[str, torch.Tensor] = {}
    count = torch.zeros((), dtype=torch.float64, device=device)
    for _, batch in iterator:
        batch = to_device(batch, device)
        if autocast is None:
            _, stats, weight = net(**batch)
        else:
            with autocast():
                _, stats, weight = net(**batch)
        w = weight.detach().double().sum()
        for k, v in stats.items():
            if v is not None:
                sums[k] = sums.get(k, 0) + v.detach().double().sum() * w
        count += w
    local = {k: float(v) for k, v in sums.items()}           # one host sync per epoch
    total_sums, total = _merge_across_ranks(local, float(count))
    means = {k: v / total for k, v in total_sums.items()} if total else {}
    finalize = getattr(net, "finalize_stats", None)
    return (finalize(means) if finalize and means else means), total
