"""Intervals and tests for LLM bargaining results: deal rates are binomial, efficiencies are means over scenarios,
and models are compared on the same scenarios, so the tests here are the ones those shapes call for.

Every result is a small frozen dataclass that `dataclasses.asdict` turns into JSON-ready values. An `Interval`
also unpacks as `(low, high)`, which is how most callers use one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

# Rows resampled at once by the mean's fast path: bounds the index matrix at a few million entries.
_BOOTSTRAP_CELLS_PER_CHUNK = 4_000_000
# The sign-flip test counts all 2^n patterns up to this many pairs (two halves of 2^20 sums, well under a second);
# beyond it, this many random patterns: a smallest p of 1e-5, so Holm over a family of 100 can still reach 0.001.
EXACT_SIGN_FLIPS_UP_TO = 40
MONTE_CARLO_FLIPS = 100_000


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval, computed from `n` observations."""

    estimate: float
    low: float
    high: float
    n: int
    confidence: float = 0.95

    def __iter__(self) -> Iterator[float]:
        return iter((self.low, self.high))


@dataclass(frozen=True)
class Significance:
    """The outcome of a hypothesis test: its statistic, p-value, sample size, (for χ²) degrees of freedom, and
    how the p-value was found where that varies with n ("exact" or "monte carlo")."""

    statistic: float
    p_value: float
    n: int
    dof: int | None = None
    method: str | None = None


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    return float(scipy_stats.norm.ppf(0.5 + confidence / 2))


# ---------------------------------------------------------------------------------------------------------------
# Proportions


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a deal rate. Unlike the Wald interval it stays inside [0, 1] and is not
    degenerate at 0/n or n/n, which matters for models that never (or always) close a deal."""
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes}/{trials}")
    z, rate = _z(confidence), successes / trials
    denominator = 1 + z**2 / trials
    centre = (rate + z**2 / (2 * trials)) / denominator
    half_width = z * np.sqrt(rate * (1 - rate) / trials + z**2 / (4 * trials**2)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == trials else min(1.0, centre + half_width)
    return Interval(rate, float(low), float(high), trials, confidence)


def mcnemar_exact(only_a: int, only_b: int) -> Significance:
    """Exact McNemar test for paired deal outcomes: of the scenarios where exactly one of two models closed a deal,
    `only_a` went to A and `only_b` to B; under equal deal rates each is Binomial(only_a + only_b, 1/2). On paired
    scenarios it is the one test of equal deal rates: Fisher's exact and the two-proportion z test treat the two
    samples as independent and ignore the pairing. The statistic is only_b - only_a."""
    if min(only_a, only_b) < 0:
        raise ValueError("discordant counts must be non-negative")
    discordant = only_a + only_b
    if discordant == 0:
        return Significance(0.0, 1.0, 0)
    p_value = scipy_stats.binomtest(only_b, discordant, 0.5).pvalue
    return Significance(float(only_b - only_a), float(p_value), discordant)


def cochran_q(outcomes: np.ndarray | Sequence[Sequence[int]]) -> Significance:
    """Cochran's Q test that several models share one deal rate on the same scenarios: `outcomes` is scenarios ×
    models of 0/1. The paired counterpart of Pearson's χ² homogeneity test (with two models it is McNemar's χ²); the
    p-value is χ² with (models - 1) degrees of freedom, a large-sample approximation. Scenarios where every model
    had the same outcome carry no evidence; with none left, p = 1."""
    table = np.asarray(outcomes, dtype=int)
    if table.ndim != 2 or table.shape[1] < 2 or len(table) < 1 or not np.isin(table, (0, 1)).all():
        raise ValueError("cochran_q needs a scenarios × models table of 0/1 outcomes for at least two models")
    models = table.shape[1]
    per_model, per_scenario = table.sum(axis=0), table.sum(axis=1)
    denominator = models * per_scenario.sum() - (per_scenario**2).sum()
    dof = models - 1
    if denominator == 0:
        return Significance(0.0, 1.0, len(table), dof)
    statistic = dof * (models * (per_model**2).sum() - per_model.sum() ** 2) / denominator
    return Significance(float(statistic), float(scipy_stats.chi2.sf(statistic, dof)), len(table), dof)


# ---------------------------------------------------------------------------------------------------------------
# Means over scenarios


def bootstrap_ci(
    data: Sequence[float] | np.ndarray,
    statistic: Callable[[np.ndarray], float] | None = None,
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    bounds: tuple[float, float] | None = None,
) -> Interval:
    """Percentile bootstrap interval for `statistic` (default: the mean) of `data`, resampling its rows.

    Rows are the independent units (scenarios), so a 2-D `data` keeps each scenario's columns together, which is
    how ratios such as realised/available gains are bootstrapped. Resamples on which the statistic is undefined
    (NaN) are skipped.

    `bounds` is the range a bounded statistic (an efficiency, a rate) cannot leave. When every resample lands on
    one bound (18 of 18 efficient deals), the percentile interval is a single point that claims certainty the
    sample cannot give; the interval is then the Wilson interval of n/n (or 0/n) set onto the bounds.
    """
    values = np.asarray(data, dtype=float)
    if len(values) < 1:
        raise ValueError("bootstrap needs at least one observation")
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    tail = (1 - confidence) / 2
    if not 0 < tail < 0.5:
        raise ValueError("confidence must be in (0, 1)")
    rng = np.random.default_rng(seed)
    n = len(values)
    if statistic is None:
        if values.ndim != 1:
            raise ValueError("the default statistic (the mean) needs one-dimensional data")
        estimate = float(values.mean())
        chunk = max(1, _BOOTSTRAP_CELLS_PER_CHUNK // n)
        replicates = np.concatenate(
            [
                values[rng.integers(0, n, size=(min(chunk, resamples - start), n))].mean(axis=1)
                for start in range(0, resamples, chunk)
            ]
        )
    else:
        estimate = float(statistic(values))
        replicates = np.array([statistic(values[rng.integers(0, n, size=n)]) for _ in range(resamples)])
    low, high = np.nanquantile(replicates, [tail, 1 - tail])
    if bounds is not None and low == high and estimate in bounds:
        return _at_a_bound(estimate, bounds, n, confidence)
    return Interval(estimate, float(low), float(high), n, confidence)


def t_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> Interval:
    """Student-t interval for the mean of a few independent replicates (training seeds): with 3 of them a
    bootstrap has only 10 distinct resamples and too narrow an interval; t widens it by the unknown variance."""
    data = np.asarray(values, dtype=float)
    if len(data) < 2:
        raise ValueError("a t interval needs at least two replicates")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    mean = float(data.mean())
    half = float(
        scipy_stats.t.ppf(0.5 + confidence / 2, len(data) - 1) * data.std(ddof=1) / np.sqrt(len(data))
    )
    return Interval(mean, mean - half, mean + half, len(data), confidence)


def _at_a_bound(estimate: float, bounds: tuple[float, float], n: int, confidence: float) -> Interval:
    floor, ceiling = bounds
    wilson = wilson_interval(n if estimate == ceiling else 0, n, confidence)
    width = ceiling - floor
    return Interval(estimate, floor + width * wilson.low, floor + width * wilson.high, n, confidence)


def _paired_differences(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> np.ndarray:
    first, second = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if first.shape != second.shape or first.ndim != 1 or len(first) < 1:
        raise ValueError("paired samples must be one-dimensional, non-empty and of equal length")
    return first - second


def paired_bootstrap(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Bootstrap interval for mean(a) - mean(b) when a[i] and b[i] come from the same scenario. Resampling
    scenarios (not a and b separately) removes the scenario-to-scenario variance both share."""
    differences = _paired_differences(a, b)
    return bootstrap_ci(differences, resamples=resamples, confidence=confidence, seed=seed)


def paired_permutation_test(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    resamples: int = MONTE_CARLO_FLIPS,
    seed: int = 0,
) -> Significance:
    """Two-sided sign-flip permutation test that mean(a - b) = 0 on paired scenarios; the statistic is the mean
    difference. Exact up to `EXACT_SIGN_FLIPS_UP_TO` pairs: all 2^n sign patterns are counted, so the p-value can
    be as small as 2/2^n (a Monte Carlo p-value cannot go below 1/(resamples + 1), which Holm over a large family
    turns into a floor no effect can pass). Beyond that, `resamples` random sign patterns, p = (hits + 1) /
    (resamples + 1), which never understates p."""
    differences = _paired_differences(a, b)
    n = len(differences)
    observed = abs(differences.sum())
    # a pattern is as extreme as the data when its |sum| reaches the observed one, up to rounding
    threshold = observed - 1e-9 * max(1.0, np.abs(differences).sum())
    if n <= EXACT_SIGN_FLIPS_UP_TO:
        p_value, method = _exact_sign_flip_p(np.abs(differences), threshold), "exact"
    else:
        p_value, method = _monte_carlo_sign_flip_p(differences, threshold, resamples, seed), "monte carlo"
    return Significance(float(differences.mean()), min(1.0, p_value), n, method=method)


def _signed_sums(magnitudes: np.ndarray) -> np.ndarray:
    """The sum of ±m_i over all 2^len(m) sign patterns, sorted."""
    sums = np.zeros(1)
    for magnitude in magnitudes:
        sums = np.concatenate([sums + magnitude, sums - magnitude])
    return np.sort(sums)


def _exact_sign_flip_p(magnitudes: np.ndarray, threshold: float) -> float:
    """P(|Σ ±m_i| >= threshold) over all sign patterns, counted by meeting in the middle: the sums of each half
    (2^(n/2) each) are paired by a sorted search instead of listing all 2^n patterns."""
    if threshold <= 0:
        return 1.0
    half = len(magnitudes) // 2
    first, second = _signed_sums(magnitudes[:half]), _signed_sums(magnitudes[half:])
    # patterns with sum >= threshold; by symmetry (flip every sign) as many have sum <= -threshold
    upper = (len(second) - np.searchsorted(second, threshold - first, side="left")).sum()
    return float(2 * upper / (len(first) * len(second)))


def _monte_carlo_sign_flip_p(differences: np.ndarray, threshold: float, resamples: int, seed: int) -> float:
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOTSTRAP_CELLS_PER_CHUNK // len(differences))
    hits = 0
    for start in range(0, resamples, chunk):
        signs = rng.choice(np.array([-1.0, 1.0]), size=(min(chunk, resamples - start), len(differences)))
        hits += int((np.abs(signs @ differences) >= threshold).sum())
    return (hits + 1) / (resamples + 1)


# ---------------------------------------------------------------------------------------------------------------
# Many comparisons


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the order given: reject hypothesis i at family-wise level `a`
    exactly when the adjusted p-value is <= a. Uniformly more powerful than plain Bonferroni."""
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or ((p < 0) | (p > 1)).any():
        raise ValueError("p-values must be a flat sequence of numbers in [0, 1]")
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (len(p) - np.arange(len(p)))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return [float(value) for value in adjusted]
