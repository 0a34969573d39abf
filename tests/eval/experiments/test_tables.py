"""The experiment tables' tests on hand-built paired rows."""

import numpy as np
import pytest
from haggle.eval.experiments.tables import Episodes, homogeneity
from scipy import stats as scipy_stats


def row(deals: list[int]) -> Episodes:
    n = len(deals)
    ones = np.ones(n)
    return Episodes([f"s{i:03d}" for i in range(n)], np.array(deals), ones, ones, ones / 2, ones)


def test_equal_trade_rates_are_tested_on_the_pairs_not_as_independent_samples():
    """Two models on 60 shared scenarios: B trades wherever A does, and on 8 more. Paired (McNemar's χ² = 8), that
    is strong evidence; Pearson's χ² on 30/60 vs 38/60 would see p ≈ 0.14 and miss it."""
    a = [1] * 30 + [0] * 30
    b = [1] * 38 + [0] * 22
    test = homogeneity("c", {"a": row(a), "b": row(b)})
    assert (test.scenarios, test.dof, test.q) == (60, 1, pytest.approx(8.0))
    assert test.p_value == pytest.approx(scipy_stats.chi2.sf(8.0, 1)) and test.p_value < 0.01
    unpaired = scipy_stats.chi2_contingency([[30, 30], [38, 22]], correction=False).pvalue
    assert unpaired > 0.1


def test_rows_without_shared_scenarios_are_not_tested():
    test = homogeneity("c", {"a": row([1, 0])})
    assert test.p_value is None and test.q is None
