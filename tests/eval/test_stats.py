"""The statistics behind eval reports, checked against scipy, hand computations and coverage."""

import json
from dataclasses import asdict

import numpy as np
import pytest
from haggle.eval import stats
from scipy import stats as scipy_stats


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (0, 60, 0.0, 0.060172),  # the paper's Claude-Opus cell: 0/60, "Wilson 95% CI 0%, 6%"
        (54, 60, 0.798505, 0.953357),
        (60, 60, 0.939828, 1.0),
    ],
)
def test_wilson_interval_matches_known_values(successes, trials, low, high):
    interval = stats.wilson_interval(successes, trials)
    assert interval.estimate == successes / trials and interval.n == trials
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-6)
    assert tuple(interval) == (interval.low, interval.high)


@pytest.mark.parametrize(("successes", "trials"), [(1, 7), (13, 40), (399, 400)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_interval_agrees_with_scipy(successes, trials, confidence):
    expected = scipy_stats.binomtest(successes, trials).proportion_ci(confidence, method="wilson")
    low, high = stats.wilson_interval(successes, trials, confidence)
    assert (low, high) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_wilson_interval_rejects_impossible_counts():
    for successes, trials in [(1, 0), (5, 4), (-1, 4)]:
        with pytest.raises(ValueError):
            stats.wilson_interval(successes, trials)


def test_mcnemar_exact_on_known_values_and_its_edge_cases():
    # 1 vs 9 discordant pairs: 2 * P(Binomial(10, 1/2) <= 1) = 2 * 11/1024
    result = stats.mcnemar_exact(1, 9)
    assert result.p_value == pytest.approx(22 / 1024) and result.statistic == 8 and result.n == 10
    assert stats.mcnemar_exact(9, 1).p_value == pytest.approx(22 / 1024)
    assert stats.mcnemar_exact(5, 5).p_value == pytest.approx(1.0)
    assert stats.mcnemar_exact(0, 0).p_value == 1.0  # no scenario where the two differ: no evidence
    with pytest.raises(ValueError):
        stats.mcnemar_exact(-1, 3)


def test_holm_on_a_known_example():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 -> kept monotone at 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]) == []


def test_bootstrap_mean_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    true_mean, trials = 1.0, 300
    covered = 0
    for trial in range(trials):
        sample = rng.exponential(true_mean, size=60)
        low, high = stats.bootstrap_ci(sample, resamples=500, seed=trial)
        covered += low <= true_mean <= high
    assert 0.88 <= covered / trials <= 0.99


def test_bootstrap_is_seeded_and_resamples_rows_together():
    rng = np.random.default_rng(0)
    realised, available = rng.random(200), 1 + rng.random(200)
    rows = np.column_stack([realised, available])

    def ratio(sample):
        return sample[:, 0].sum() / sample[:, 1].sum()

    first = stats.bootstrap_ci(rows, ratio, resamples=300, seed=3)
    assert first == stats.bootstrap_ci(rows, ratio, resamples=300, seed=3)
    assert first != stats.bootstrap_ci(rows, ratio, resamples=300, seed=4)
    assert first.estimate == pytest.approx(ratio(rows)) and first.low < first.estimate < first.high
    json.dumps(asdict(first))


def test_paired_bootstrap_sees_a_small_shift_that_scenario_noise_would_hide():
    rng = np.random.default_rng(1)
    scenario_effect = rng.normal(0, 1, size=300)
    a = scenario_effect + 0.1 + rng.normal(0, 0.05, size=300)
    b = scenario_effect
    paired = stats.paired_bootstrap(a, b, seed=0)
    assert 0 < paired.low < 0.1 < paired.high
    unpaired_a, unpaired_b = stats.bootstrap_ci(a, seed=0), stats.bootstrap_ci(b, seed=1)
    assert unpaired_a.low < unpaired_b.high  # separately, the two means' intervals overlap


def test_paired_permutation_test_exact_and_monte_carlo():
    # all five differences positive: only the identity and the full flip reach |mean| >= 3, so p = 2/32
    exact = stats.paired_permutation_test([1, 2, 3, 4, 5], [0, 0, 0, 0, 0])
    assert (exact.statistic, exact.p_value, exact.n, exact.method) == (3.0, pytest.approx(2 / 32), 5, "exact")
    rng = np.random.default_rng(2)
    base = rng.normal(size=200)
    shifted = stats.paired_permutation_test(base + 0.3 + rng.normal(0, 0.3, 200), base, resamples=2000)
    assert shifted.p_value < 0.01 and shifted.method == "monte carlo"
    same = stats.paired_permutation_test(base + rng.normal(0, 0.3, 200), base, resamples=2000)
    assert same.p_value > 0.05


@pytest.mark.parametrize("n", [2, 7, 12])
def test_the_exact_sign_flip_p_value_is_scipys_full_enumeration(n):
    differences = np.random.default_rng(n).normal(0.4, 1, size=n)
    expected = scipy_stats.permutation_test(
        (differences,), np.mean, permutation_type="samples", n_resamples=np.inf, alternative="two-sided"
    )
    result = stats.paired_permutation_test(differences, np.zeros(n))
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)


def test_a_single_pair_gives_p_one_where_scipy_raises():
    assert stats.paired_permutation_test([0.8], [0.1]).p_value == 1.0


def test_the_exact_sign_flip_test_reaches_p_values_no_ten_thousand_resamples_can():
    """20 paired scenarios all favouring B: p = 2/2^20 ≈ 1.9e-6, where 9,999 random resamples stop at 1e-4 and
    Holm over 288 tests then floors every adjusted p at 0.029 or more."""
    differences = np.linspace(0.5, 0.9, 20)
    result = stats.paired_permutation_test(differences, np.zeros(20))
    assert result.p_value == pytest.approx(2 / 2**20) and result.method == "exact"
    # 40 pairs (the meet-in-the-middle limit) against a brute-force count over a random half of the signs
    forty = np.random.default_rng(3).normal(0.25, 1, size=40)
    p = stats.paired_permutation_test(forty, np.zeros(40)).p_value
    signs = np.random.default_rng(4).choice([-1.0, 1.0], size=(200_000, 40))
    sampled = np.mean(np.abs(signs @ np.abs(forty)) >= abs(forty.sum()))
    assert p == pytest.approx(sampled, abs=4 * np.sqrt(sampled * (1 - sampled) / 200_000))


def test_the_monte_carlo_sign_flip_p_value_never_reaches_zero():
    result = stats.paired_permutation_test(np.full(60, 1.0), np.zeros(60), resamples=999)
    assert result.p_value == pytest.approx(1 / 1000) and result.method == "monte carlo"


def test_cochrans_q_by_hand_and_as_mcnemars_chi2_for_two_models():
    # 3 models on 6 scenarios: model totals 5, 2, 2 (sum 9); scenario totals 3, 2, 2, 1, 1, 0
    outcomes = [[1, 1, 1], [1, 1, 0], [1, 0, 1], [1, 0, 0], [1, 0, 0], [0, 0, 0]]
    result = stats.cochran_q(outcomes)
    expected = 2 * (3 * (25 + 4 + 4) - 81) / (3 * 9 - (9 + 4 + 4 + 1 + 1))  # = 4.5
    assert (result.statistic, result.dof, result.n) == (pytest.approx(expected), 2, 6)
    assert result.p_value == pytest.approx(scipy_stats.chi2.sf(expected, 2))
    # two models: Q is McNemar's χ² (b - c)² / (b + c) on the discordant pairs
    two = stats.cochran_q([[1, 0]] * 7 + [[0, 1]] * 2 + [[1, 1]] * 5)
    assert two.statistic == pytest.approx((7 - 2) ** 2 / 9)
    assert stats.cochran_q([[1, 1], [0, 0]]).p_value == 1.0  # no scenario where the models differ
    with pytest.raises(ValueError):
        stats.cochran_q([[1, 2]])


def test_a_bounded_bootstrap_interval_does_not_collapse_at_n_of_n():
    """18 of 18 efficient deals: the percentile bootstrap says "1.000 [1.000, 1.000]"; the Wilson interval of
    18/18 ([0.824, 1]) is what 18 scenarios support."""
    assert tuple(stats.bootstrap_ci(np.ones(18))) == (1.0, 1.0)  # unbounded: nothing to fall back on
    top = stats.bootstrap_ci(np.ones(18), bounds=(0.0, 1.0))
    assert (top.estimate, top.low, top.high) == (1.0, pytest.approx(0.824121, abs=1e-6), 1.0)
    assert tuple(top) == tuple(stats.wilson_interval(18, 18))
    bottom = stats.bootstrap_ci(np.zeros(18), bounds=(0.0, 1.0))
    assert (bottom.low, bottom.high) == (0.0, pytest.approx(1 - 0.824121, abs=1e-6))

    def ratio(rows):
        return rows[:, 0].sum() / rows[:, 1].sum()

    efficient = np.column_stack([np.arange(1.0, 19.0), np.arange(1.0, 19.0)])  # realised = available gains
    assert stats.bootstrap_ci(efficient, ratio, bounds=(0.0, 1.0)).low == pytest.approx(0.824121, abs=1e-6)
    # away from the bounds the percentile interval is kept
    mixed = np.r_[np.ones(17), 0.5]
    assert stats.bootstrap_ci(mixed, bounds=(0.0, 1.0)) == stats.bootstrap_ci(mixed)


def test_the_t_interval_of_three_seeds_is_the_textbook_one_and_covers_at_its_rate():
    """Three seeds 0.08, 0.10, 0.09: mean 0.09, sd 0.01, t(0.975, 2) = 4.303 → ±0.0248."""
    interval = stats.t_interval([0.08, 0.10, 0.09])
    assert interval.estimate == pytest.approx(0.09)
    assert (interval.low, interval.high) == pytest.approx((0.09 - 0.024841, 0.09 + 0.024841), abs=1e-6)
    assert interval.n == 3
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(4000):
        interval = stats.t_interval(rng.normal(1.0, 2.0, 3))
        covered += interval.low <= 1.0 <= interval.high
    assert 0.94 < covered / 4000 < 0.96
    with pytest.raises(ValueError, match="at least two"):
        stats.t_interval([0.1])
