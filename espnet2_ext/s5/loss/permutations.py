"""Exhaustive permutation search on a [B, S, S] cost matrix (shared by the PIT losses).

With S = 3 slots there are only 6 permutations, so trying all of them is both
exact and cheap. The permutation order is ``itertools.permutations(range(S))``
and ties go to the first one, as in torchmetrics' exhaustive search.
"""
from __future__ import annotations

import functools
import itertools
from typing import Tuple

import torch


@functools.lru_cache(maxsize=None)
def _permutation_table(n_slots: int) -> torch.Tensor:
    """All permutations of range(n_slots) as a [n_slots!, n_slots] int64 table."""
    return torch.tensor(list(itertools.permutations(range(n_slots))), dtype=torch.long)


def best_permutation(cost: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Minimise the mean matched cost over all slot permutations.

    Args:
        cost: [B, S, S]; ``cost[b, i, j]`` = cost of matching target i with prediction j.

    Returns:
        best: [B] ``min_perm mean_i cost[b, i, perm[i]]`` (differentiable, cost dtype).
        perm: [B, S] int64, ``perm[b, i]`` = prediction slot matched to target slot i.
    """
    n_slots = cost.shape[-1]
    table = _permutation_table(n_slots).to(cost.device)               # [P, S]
    targets = torch.arange(n_slots, device=cost.device)
    scores = cost[:, targets, table].mean(dim=-1)                     # [B, P]
    index = scores.argmin(dim=-1)                                     # first minimum on ties
    best = scores.gather(-1, index.unsqueeze(-1)).squeeze(-1)
    return best, table[index]
