"""Splitting work over ``--nj`` parallel jobs (``JOB=1:nj`` of run.pl / slurm.pl).

Every job-parallel tool (synthesis, external data, decoding) takes its share with
:func:`job_share`, so the split and the ``--job`` check exist once.
"""
from __future__ import annotations

from typing import List, Sequence, TypeVar

from espnet2_ext.errors import S5InputError

T = TypeVar("T")


def check_job(job: int, nj: int) -> None:
    """Raise S5InputError unless ``1 <= job <= nj``."""
    if nj < 1:
        raise S5InputError(f"--nj must be >= 1, got {nj}")
    if not 1 <= job <= nj:
        raise S5InputError(f"--job must be in 1..{nj}, got {job}")


def job_share(items: Sequence[T], job: int, nj: int) -> List[T]:
    """The contiguous share of ``items`` for job ``job`` (1-based) out of ``nj``.

    Shares differ in size by at most one item, keep the input order and together cover
    every item exactly once.
    """
    check_job(job, nj)
    size, extra = divmod(len(items), nj)
    start = (job - 1) * size + min(job - 1, extra)
    return list(items[start:start + size + (job <= extra)])
