"""Bootstrap intervals: cases whose interval is known exactly or by the binomial distribution."""
import numpy as np
import pytest
from scipy import stats

from espnet2_ext.s5.metrics import bootstrap, mean_ignoring_none


def test_settings_are_the_stated_constants():
    assert bootstrap.settings() == {"resamples": 1000, "seed": 0, "level": 0.95}


@pytest.mark.parametrize("values", [[], [None], [None, None, None]])
def test_no_value_gives_no_interval(values):
    assert bootstrap.mean_ci(values) is None
    assert bootstrap.paired_difference(values, values) == (None, None)


@pytest.mark.parametrize("values, c", [([7.25], 7.25), ([-3.0] * 50, -3.0), ([None, 2.5, None, 2.5], 2.5),
                                       ([0.1] * 7, 0.1)])
def test_a_constant_value_gives_a_zero_width_interval(values, c):
    lo, hi = bootstrap.mean_ci(values)
    assert lo == pytest.approx(c, abs=1e-12) and hi == pytest.approx(c, abs=1e-12)
    if c != 0.1:                                     # sums of 0.25-multiples are exact
        assert [lo, hi] == [c, c]


def test_two_values_0_and_1_by_enumeration():
    """n = 2: the resampled mean is 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4; with 1000
    draws well over 2.5 % of them are 0 and 1, so the interval is [0, 1]."""
    assert bootstrap.mean_ci([0.0, 1.0]) == [0.0, 1.0]
    # n = 3, values 0, 0, 3: mean* = K ~ Binomial(3, 1/3); P(K <= 2) = 26/27 < 0.975 -> hi = 3
    assert bootstrap.mean_ci([0.0, 0.0, 3.0]) == [0.0, 3.0]


def test_binomial_case_matches_the_binomial_quantiles():
    """n = 100, half 0 and half 1: the resampled mean is Binomial(100, 0.5) / 100, whose 2.5 %
    and 97.5 % quantiles are 0.40 and 0.60; the 1000-resample percentiles lie within 0.02
    (about 5 standard errors of an empirical quantile here)."""
    lo, hi = bootstrap.mean_ci([0.0, 1.0] * 50)
    q_lo, q_hi = stats.binom.ppf([0.025, 0.975], 100, 0.5) / 100
    assert (q_lo, q_hi) == (0.40, 0.60)
    assert abs(lo - q_lo) <= 0.02 and abs(hi - q_hi) <= 0.02
    assert lo < 0.5 < hi


def test_interval_is_around_the_reported_mean_with_none_values_left_out():
    rng = np.random.default_rng(1)
    values = [None if i % 5 == 0 else float(v) for i, v in enumerate(rng.normal(10.0, 2.0, 200))]
    lo, hi = bootstrap.mean_ci(values)
    mean = mean_ignoring_none(values)
    sem = np.std([v for v in values if v is not None], ddof=1) / np.sqrt(160)
    assert lo < mean < hi
    assert (hi - lo) == pytest.approx(2 * 1.96 * sem, rel=0.2)          # the normal approximation
    # None values are not zeros: replacing them by 0 moves the interval down
    assert bootstrap.mean_ci([0.0 if v is None else v for v in values])[1] < lo


def test_seeded_and_reproducible():
    values = list(np.random.default_rng(2).normal(0.0, 1.0, 30))
    assert bootstrap.mean_ci(values) == bootstrap.mean_ci(values)
    assert bootstrap.mean_ci(values, seed=1) != bootstrap.mean_ci(values)        # the seed is used
    assert bootstrap.paired_difference(values, values[::-1]) == bootstrap.paired_difference(values, values[::-1])


@pytest.mark.parametrize("n", [40, 41])
def test_drawing_in_chunks_gives_the_same_interval(monkeypatch, n):
    """Large sets are resampled in chunks of rows: the draws, hence the interval, do not change."""
    values = list(np.random.default_rng(3).normal(0.0, 1.0, n))
    whole = bootstrap.mean_ci(values)
    monkeypatch.setattr(bootstrap, "_MAX_DRAWS", n * 7)                  # 7 resamples per chunk
    assert bootstrap.mean_ci(values) == whole and whole[0] < whole[1]


def test_identical_systems_differ_by_exactly_zero():
    values = [None, *np.random.default_rng(4).normal(5.0, 3.0, 99)]
    assert bootstrap.paired_difference(values, list(values)) == (0.0, [0.0, 0.0])
    accuracy = [100.0, 0.0, 0.0, 100.0, 100.0]
    assert bootstrap.paired_difference(accuracy, accuracy) == (0.0, [0.0, 0.0])


@pytest.mark.parametrize("d", [2.0, -0.75])
def test_a_shift_on_every_soundscape_gives_exactly_the_shift(d):
    base = [0.5 * k for k in range(-10, 30)] + [None]        # sums of halves: exact in float
    shifted = [None if v is None else v + d for v in base]
    assert bootstrap.paired_difference(shifted, base) == (d, [d, d])
    assert bootstrap.paired_difference(base, shifted) == (-d, [-d, -d])


def test_paired_interval_is_narrower_than_the_unpaired_one():
    """Two systems sharing a large per-soundscape variation: pairing cancels it."""
    rng = np.random.default_rng(5)
    common = rng.normal(0.0, 5.0, 300)
    a, b = list(common + rng.normal(0.3, 0.5, 300)), list(common)
    diff, (lo, hi) = bootstrap.paired_difference(a, b)
    assert diff == pytest.approx(mean_ignoring_none(a) - mean_ignoring_none(b))
    assert 0.0 < lo < diff < hi
    a_lo, a_hi = bootstrap.mean_ci(a)
    assert hi - lo < 0.2 * (a_hi - a_lo)


def test_different_undefined_soundscapes_follow_the_reported_means():
    """a has a value only on soundscape 0, b only on 1: every resample with both gives 1 − 2."""
    assert bootstrap.paired_difference([1.0, None], [None, 2.0]) == (-1.0, [-1.0, -1.0])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        bootstrap.paired_difference([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        bootstrap.mean_ci([1.0], level=1.0)
    with pytest.raises(ValueError):
        bootstrap.mean_ci([1.0], resamples=0)
