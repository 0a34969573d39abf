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
    """The outcome of a hypothesis test: its statistic, p-value, sample size and (for χ²) degrees of freedom."""

    statistic: float
    p_value: float
    n: int
    dof: int | None = None


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


def fisher_exact(table: Sequence[Sequence[int]]) -> Significance:
    """Fisher's exact test on a 2×2 table [[deals_a, no_deals_a], [deals_b, no_deals_b]] (two-sided).
    Exact, so it is the right test for two deal rates when counts are small or near 0 or n.
    The statistic is the sample odds ratio (infinite when a cell is zero)."""
    counts = np.asarray(table, dtype=int)
    if counts.shape != (2, 2) or (counts < 0).any():
        raise ValueError("fisher_exact needs a 2×2 table of non-negative counts")
    odds_ratio, p_value = scipy_stats.fisher_exact(counts)
    return Significance(float(odds_ratio), float(p_value), int(counts.sum()))


def two_proportion_z_test(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> Significance:
    """Two-sided z test that two deal rates are equal, with the pooled standard error.
    The large-sample companion of `fisher_exact`; the statistic is z for rate a minus rate b."""
    if min(trials_a, trials_b) < 1:
        raise ValueError("both groups need at least one trial")
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    standard_error = np.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    if standard_error == 0:  # both rates 0 or both 1: no evidence of a difference
        return Significance(0.0, 1.0, trials_a + trials_b)
    z = (successes_a / trials_a - successes_b / trials_b) / standard_error
    return Significance(float(z), float(2 * scipy_stats.norm.sf(abs(z))), trials_a + trials_b)


def mcnemar_exact(only_a: int, only_b: int) -> Significance:
    """Exact McNemar test for paired deal outcomes: of the scenarios where exactly one of two models closed a deal,
    `only_a` went to A and `only_b` to B; under equal deal rates each is Binomial(only_a + only_b, 1/2). On paired
    scenarios it is sharper than Fisher's test, which ignores the pairing. The statistic is only_b - only_a."""
    if min(only_a, only_b) < 0:
        raise ValueError("discordant counts must be non-negative")
    discordant = only_a + only_b
    if discordant == 0:
        return Significance(0.0, 1.0, 0)
    p_value = scipy_stats.binomtest(only_b, discordant, 0.5).pvalue
    return Significance(float(only_b - only_a), float(p_value), discordant)


def chi2_homogeneity(successes: Sequence[int], trials: Sequence[int]) -> Significance:
    """Pearson χ² test that several models share one deal rate (no continuity correction).
    The table is models × {deal, no deal}; the statistic has (models - 1) degrees of freedom."""
    deals = np.asarray(successes, dtype=float)
    totals = np.asarray(trials, dtype=float)
    if deals.shape != totals.shape or deals.ndim != 1 or len(deals) < 2:
        raise ValueError("need one deal count and one trial count for each of at least two models")
    if (totals < 1).any() or (deals < 0).any() or (deals > totals).any():
        raise ValueError("each model needs 0 <= deals <= trials and at least one trial")
    observed = np.column_stack([deals, totals - deals])
    column_totals = observed.sum(axis=0)
    if (column_totals == 0).any():
        raise ValueError("every model has the same outcome on every trial: the deal rate is not in question")
    expected = np.outer(totals, column_totals) / totals.sum()
    statistic = float(((observed - expected) ** 2 / expected).sum())
    dof = len(deals) - 1
    return Significance(statistic, float(scipy_stats.chi2.sf(statistic, dof)), int(totals.sum()), dof)


# ---------------------------------------------------------------------------------------------------------------
# Means over scenarios


def bootstrap_ci(
    data: Sequence[float] | np.ndarray,
    statistic: Callable[[np.ndarray], float] | None = None,
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval for `statistic` (default: the mean) of `data`, resampling its rows.

    Rows are the independent units (scenarios), so a 2-D `data` keeps each scenario's columns together, which is
    how ratios such as realised/available gains are bootstrapped. Resamples on which the statistic is undefined
    (NaN) are skipped.
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
    return Interval(estimate, float(low), float(high), n, confidence)


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
    resamples: int = 9999,
    seed: int = 0,
) -> Significance:
    """Two-sided sign-flip permutation test that mean(a - b) = 0 on paired scenarios. Exact (all 2^n
    flips) when 2^n <= `resamples`, Monte Carlo otherwise; the statistic is the mean difference."""
    differences = _paired_differences(a, b)
    result = scipy_stats.permutation_test(
        (differences,),
        lambda d, axis: np.mean(d, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=resamples,
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    return Significance(float(result.statistic), float(result.pvalue), len(differences))


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
