r"""95 % bootstrap confidence intervals of a dataset mean and of a paired difference.

The scores are means over soundscapes: CAPI-SDRi over the soundscapes that have a value
(:func:`~espnet2_ext.s5.metrics.capi_sdri.mean_ignoring_none`: a soundscape where neither
side has an event has none) and mixture accuracy over all of them (100 or 0 each).

**Percentile bootstrap of the mean.** Values :math:`x_1..x_n`, :math:`D` the indices
with a value. The reported mean is :math:`m = \sum_{i \in D} x_i / |D|`. For each of
:math:`b = 1..B` resamples, :math:`n` indices :math:`i_1..i_n` are drawn uniformly with
replacement from :math:`1..n` (``numpy.random.default_rng(seed)``) and the *same* mean is
computed on them:

.. math:: m^*_b = \frac{\sum_j [i_j \in D]\, x_{i_j}}{\sum_j [i_j \in D]}

(a resample without any value has no mean and is left out; with every value defined this
is the ordinary bootstrap of the mean). The interval is the :math:`(1-L)/2` and
:math:`(1+L)/2` percentiles of :math:`\{m^*_b\}` (linear interpolation, numpy's default),
:math:`L` = ``LEVEL``.

**Paired bootstrap of a difference.** Two systems scored on the same :math:`n`
soundscapes (values :math:`x_i`, :math:`y_i` of soundscape :math:`i`). The indices are drawn
once per resample and applied to both: :math:`d^*_b = m^*_b(x) - m^*_b(y)`, so the
soundscape-to-soundscape variation common to both systems cancels. Identical systems give
:math:`d^*_b = 0` exactly, a system :math:`x_i = y_i + d` gives :math:`d^*_b = d` (up to the
rounding of the sums; computed as :math:`(\sum x - \sum y)/c` when both resampled means have
the same count :math:`c`). The point estimate is :math:`m(x) - m(y)`, the difference of
the reported means on those soundscapes (the same formula on the sample itself).

Zero soundscapes, or none with a value, give no interval (``None``); one soundscape gives
``[x, x]``. The draws depend only on ``n``, ``resamples`` and ``seed``: the same inputs
always give the same interval.
"""
from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

RESAMPLES = 1000   #: bootstrap resamples
SEED = 0           #: seed of ``numpy.random.default_rng``
LEVEL = 0.95       #: confidence level of the intervals

Values = Sequence[Optional[float]]
Interval = Optional[List[float]]

_MAX_DRAWS = 4_000_000   # indices held at once (32 MB): resamples are drawn in chunks of rows


def settings() -> Dict[str, object]:
    """What results.json records under ``"bootstrap"``."""
    return {"resamples": RESAMPLES, "seed": SEED, "level": LEVEL}


def format_interval(interval: Optional[Sequence[float]]) -> str:
    """An interval as the score tables, the leaderboard and the model card write it:
    ``[lo, hi]`` with 3 decimals, '—' when there is none."""
    return "—" if interval is None else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def _array(values: Values) -> Tuple[np.ndarray, np.ndarray]:
    """(values with 0 where None, mask of the defined ones)."""
    mask = np.array([v is not None for v in values], dtype=bool)
    return np.array([0.0 if v is None else float(v) for v in values], dtype=np.float64), mask


def _indices(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """The resampled soundscape indices, [rows, n] per chunk, ``resamples`` rows in all."""
    rng = np.random.default_rng(seed)
    rows = max(1, _MAX_DRAWS // n)
    for start in range(0, resamples, rows):
        yield rng.integers(0, n, size=(min(rows, resamples - start), n))


def _sums(values: np.ndarray, mask: np.ndarray, idx: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(sum, count) of the defined values in each resample (rows of ``idx``)."""
    return np.where(mask, values, 0.0)[idx].sum(axis=1), mask[idx].sum(axis=1)


def _means(values: np.ndarray, mask: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mean over the defined values of each resample; NaN where there is none."""
    total, count = _sums(values, mask, idx)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _differences(x: Tuple[np.ndarray, np.ndarray], y: Tuple[np.ndarray, np.ndarray], idx: np.ndarray
                 ) -> np.ndarray:
    """m*(x) − m*(y) per resample, as (Σx − Σy) / count where both have as many values (exact
    for identical or shifted systems), else Σx / count_x − Σy / count_y; NaN where one has none."""
    (tx, cx), (ty, cy) = _sums(*x, idx), _sums(*y, idx)
    same = (tx - ty) / np.maximum(cx, 1)
    apart = tx / np.maximum(cx, 1) - ty / np.maximum(cy, 1)
    return np.where((cx > 0) & (cy > 0), np.where(cx == cy, same, apart), np.nan)


def _percentiles(stats: np.ndarray, level: float) -> Interval:
    stats = stats[~np.isnan(stats)]
    if stats.size == 0:
        return None
    tail = round(50.0 * (1.0 - level), 10)
    lo, hi = np.percentile(stats, [tail, 100.0 - tail])
    return [float(lo), float(hi)]


def _check(resamples: int, level: float) -> None:
    if resamples < 1 or not 0.0 < level < 1.0:
        raise ValueError(f"bootstrap needs resamples >= 1 and 0 < level < 1 (got {resamples}, {level})")


def mean_ci(values: Values, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL) -> Interval:
    """``[lo, hi]``: percentile bootstrap interval of the mean of ``values`` over the defined ones.

    ``None`` when no value is defined (or there are none)."""
    _check(resamples, level)
    x, mask = _array(values)
    if not mask.any():
        return None
    stats = np.concatenate([_means(x, mask, idx) for idx in _indices(len(x), resamples, seed)])
    return _percentiles(stats, level)


def paired_difference(a: Values, b: Values, resamples: int = RESAMPLES, seed: int = SEED,
                      level: float = LEVEL) -> Tuple[Optional[float], Interval]:
    """(mean(a) − mean(b), ``[lo, hi]``): paired bootstrap of the difference of two systems.

    ``a[i]`` and ``b[i]`` belong to the same soundscape; means ignore ``None`` as above.
    (None, None) when either system has no value at all."""
    _check(resamples, level)
    if len(a) != len(b):
        raise ValueError(f"paired values need the same soundscapes ({len(a)} != {len(b)})")
    (x, mx), (y, my) = _array(a), _array(b)
    if not (mx.any() and my.any()):
        return None, None
    stats = np.concatenate([_differences((x, mx), (y, my), idx) for idx in _indices(len(x), resamples, seed)])
    point = _differences((x, mx), (y, my), np.arange(len(x))[None, :])[0]   # the sample itself
    return float(point), _percentiles(stats, level)
