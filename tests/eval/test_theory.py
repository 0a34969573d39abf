"""Bargaining-theory reference points: closed forms against independent integration and optimisation, and the
Monte Carlo versions against the closed forms."""

import json

import numpy as np
import pytest
from haggle.eval import theory
from scipy import integrate, optimize

DRAWS = 200_000


@pytest.fixture(scope="module")
def unit_draws():
    rng = np.random.default_rng(0)
    return rng.random(DRAWS), rng.random(DRAWS)


@pytest.fixture(scope="module")
def unit_benchmarks(unit_draws):
    return theory.monte_carlo_benchmarks(*unit_draws, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------------------------
# Closed forms on U[0, 1]²


def test_first_best_and_nash_bargaining_closed_forms():
    first_best = theory.first_best_uniform()
    assert (first_best.mean_gains, first_best.trade_rate, first_best.efficiency) == pytest.approx(
        (1 / 6, 1 / 2, 1)
    )
    nash = theory.nash_bargaining_uniform(buyer_weight=0.3)
    assert (nash.mean_buyer_surplus, nash.mean_seller_surplus) == pytest.approx((0.3 / 6, 0.7 / 6))
    assert nash.buyer_share == pytest.approx(0.3)


def test_chatterjee_samuelson_half_is_the_second_best():
    cs = theory.chatterjee_samuelson_uniform(k=0.5)
    assert cs.mean_gains == pytest.approx(9 / 64)
    assert cs.efficiency == pytest.approx(27 / 32) == theory.CS_EFFICIENCY
    assert cs.trade_rate == pytest.approx(9 / 32)
    assert (cs.mean_buyer_surplus, cs.mean_seller_surplus) == pytest.approx((9 / 128, 9 / 128))


@pytest.mark.parametrize("k", [0.0, 0.25, 0.5, 0.8, 1.0])
def test_chatterjee_samuelson_closed_forms_match_integration_over_the_trade_region(k):
    def bid(v):
        return v / (1 + k) + k * (1 - k) / (2 * (1 + k))

    def ask(c):
        return c / (2 - k) + (1 - k) / 2

    def lowest_trading_value(c):  # the buyer type whose bid just meets the seller's ask: bid⁻¹(ask(c))
        return min(max((1 + k) * ask(c) - k * (1 - k) / 2, 0.0), 1.0)

    def expect(payoff):
        def integrand(v, c):
            return payoff(v, c, k * bid(v) + (1 - k) * ask(c))

        return integrate.dblquad(integrand, 0, 1, lowest_trading_value, lambda c: 1, epsabs=1e-10)[0]

    cs = theory.chatterjee_samuelson_uniform(k=k)
    assert expect(lambda v, c, p: 1.0) == pytest.approx(cs.trade_rate, abs=1e-5)
    assert expect(lambda v, c, p: v - p) == pytest.approx(cs.mean_buyer_surplus, abs=1e-5)
    assert expect(lambda v, c, p: p - c) == pytest.approx(cs.mean_seller_surplus, abs=1e-5)


@pytest.mark.parametrize("k", [0.25, 0.5, 0.8])
def test_chatterjee_samuelson_bids_are_best_responses(k):
    """Against the seller's linear ask, the buyer's linear bid maximises expected payoff, and vice versa."""
    ask_intercept, ask_slope = (1 - k) / 2, 1 / (2 - k)
    bid_intercept, bid_slope = k * (1 - k) / (2 * (1 + k)), 1 / (1 + k)

    def buyer_payoff(bid, value):
        # asks are uniform on [ask_intercept, ask_intercept + ask_slope]
        top = min(max(bid, ask_intercept), ask_intercept + ask_slope)
        return integrate.quad(lambda s: (value - k * bid - (1 - k) * s) / ask_slope, ask_intercept, top)[0]

    def seller_payoff(ask, cost):
        bottom = max(min(ask, bid_intercept + bid_slope), bid_intercept)
        return integrate.quad(
            lambda b: (k * b + (1 - k) * ask - cost) / bid_slope, bottom, bid_intercept + bid_slope
        )[0]

    for value in (0.5, 0.7, 0.95):
        best = optimize.minimize_scalar(
            lambda b, v=value: -buyer_payoff(b, v), bounds=(0, 1), method="bounded"
        )
        assert best.x == pytest.approx(bid_intercept + bid_slope * value, abs=1e-4)
    for cost in (0.05, 0.3, 0.5):
        best = optimize.minimize_scalar(
            lambda s, c=cost: -seller_payoff(s, c), bounds=(0, 1.5), method="bounded"
        )
        assert best.x == pytest.approx(ask_intercept + ask_slope * cost, abs=1e-4)


def test_best_posted_price_is_the_midpoint_with_three_quarters_of_first_best():
    posted = theory.posted_price_uniform()
    assert posted.price == 0.5
    assert (posted.mean_gains, posted.trade_rate) == pytest.approx((1 / 8, 1 / 4))
    assert posted.efficiency == pytest.approx(3 / 4) == theory.POSTED_PRICE_EFFICIENCY
    best = optimize.minimize_scalar(lambda p: -theory.posted_price_uniform(price=p).mean_gains, bounds=(0, 1))
    assert best.x == pytest.approx(0.5, abs=1e-6)


def test_monopoly_offers_maximise_the_proposers_expected_payoff():
    for value in (0.2, 0.6, 1.0):  # buyer: (v - p)·P(c <= p) = (v - p)·p on U[0, 1]
        best = optimize.minimize_scalar(lambda p, v=value: -(v - p) * p, bounds=(0, 1), method="bounded")
        assert theory.buyer_offers_uniform(np.array([value]), 0, 1)[0] == pytest.approx(value / 2)
        assert best.x == pytest.approx(value / 2, abs=1e-5)
    for cost in (0.0, 0.4, 0.9):  # seller: (p - c)·P(v >= p) = (p - c)(1 - p)
        best = optimize.minimize_scalar(lambda p, c=cost: -(p - c) * (1 - p), bounds=(0, 1), method="bounded")
        assert theory.seller_offers_uniform(np.array([cost]), 0, 1)[0] == pytest.approx((1 + cost) / 2)
        assert best.x == pytest.approx((1 + cost) / 2, abs=1e-5)
    # on [100, 300] the offers move with the support's ends
    assert theory.buyer_offers_uniform(np.array([250.0]), 100, 300)[0] == 175
    assert theory.seller_offers_uniform(np.array([150.0]), 100, 300)[0] == 225


def test_random_proposer_closed_forms():
    buyer_only = theory.random_proposer_uniform(buyer_proposes=1.0)
    assert (buyer_only.trade_rate, buyer_only.mean_gains) == pytest.approx((1 / 4, 1 / 8))
    assert (buyer_only.mean_buyer_surplus, buyer_only.mean_seller_surplus) == pytest.approx((1 / 12, 1 / 24))
    both = theory.random_proposer_uniform()
    assert (both.mean_buyer_surplus, both.mean_seller_surplus) == pytest.approx((1 / 16, 1 / 16))
    assert both.efficiency == pytest.approx(theory.RANDOM_MONOPOLY_EFFICIENCY)


def test_closed_forms_scale_with_the_support():
    unit, wide = theory.uniform_benchmarks(0, 1), theory.uniform_benchmarks(100, 300)
    for name, benchmark in unit.items():
        scaled = wide[name]
        assert (scaled.efficiency, scaled.trade_rate) == pytest.approx(
            (benchmark.efficiency, benchmark.trade_rate)
        )
        assert scaled.mean_gains == pytest.approx(200 * benchmark.mean_gains)
    assert wide["best_posted_price"].price == 200
    assert wide["chatterjee_samuelson"].mean_buyer_surplus == pytest.approx(200 * 9 / 128)


# ---------------------------------------------------------------------------------------------------------------
# Monte Carlo on draws


@pytest.mark.parametrize("name", sorted(theory.UNIFORM_COUNTERPART))
def test_monte_carlo_agrees_with_the_closed_form_within_its_own_interval(unit_benchmarks, name):
    exact = theory.uniform_benchmarks(0, 1)[theory.UNIFORM_COUNTERPART[name]]
    estimated = unit_benchmarks[name]
    low, high = estimated.mean_gains_ci
    assert low <= exact.mean_gains <= high
    low, high = estimated.efficiency_ci
    assert low <= exact.efficiency <= high
    for side in ("buyer", "seller"):  # the pooled shares, where the mechanism sets a price
        share, share_ci = getattr(estimated, f"{side}_share"), getattr(estimated, f"{side}_share_ci")
        assert (share is None) == (share_ci is None) == (getattr(exact, f"{side}_share") is None)
        if share_ci is not None:
            assert share_ci[0] <= getattr(exact, f"{side}_share") <= share_ci[1]
    assert estimated.trade_rate == pytest.approx(exact.trade_rate, abs=0.005)
    assert estimated.draws == DRAWS


def test_monte_carlo_intervals_cover_the_closed_form_about_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    covered = []
    for _ in range(200):
        values, costs = rng.random(2000), rng.random(2000)
        outcome = theory.chatterjee_samuelson_outcomes(values, costs, 0, 1)
        low, high = theory.summarise_mechanism("cs", outcome, values, costs).efficiency_ci
        covered.append(low <= theory.CS_EFFICIENCY <= high)
    assert 0.9 <= np.mean(covered) <= 0.99


def test_pooled_share_intervals_cover_the_closed_form_about_95_percent_of_the_time():
    """The random proposer's buyer keeps 3/8 of all the gains on U[0, 1]² (per draw: 1/4)."""
    rng = np.random.default_rng(12)
    exact = theory.random_proposer_uniform().buyer_share
    covered = []
    for _ in range(200):
        values, costs = rng.random(2000), rng.random(2000)
        outcome = theory.random_proposer_outcomes(values, costs, 0, 1)
        low, high = theory.summarise_mechanism("rp", outcome, values, costs).buyer_share_ci
        covered.append(low <= exact <= high)
    assert exact == pytest.approx(3 / 8)
    assert 0.9 <= np.mean(covered) <= 0.99


def test_monte_carlo_price_and_offers_are_fixed_on_the_prior(unit_benchmarks):
    """Defect 3: the posted price is the prior's optimum (1/2 for uniform values), not the draws' best."""
    assert unit_benchmarks["best_posted_price"].price == 0.5
    found, exact = unit_benchmarks["random_proposer"], theory.random_proposer_uniform()
    assert found.efficiency_ci[0] <= exact.efficiency <= found.efficiency_ci[1]
    assert found.buyer_share == pytest.approx(exact.buyer_share, abs=0.01)


def test_offers_optimal_on_the_prior_are_the_uniform_monopoly_prices():
    from haggle.env.scenario import SamplerConfig
    from haggle.eval import second_best

    prior = second_best.prior_table(SamplerConfig(), 200)
    buyer, seller = second_best.monopoly_offers(prior)
    assert buyer == pytest.approx(prior.points / 2, abs=0.01)
    assert seller == pytest.approx((1 + prior.points) / 2, abs=0.01)


def test_monte_carlo_is_affine_invariant(unit_draws):
    values, costs = unit_draws[0][:5000], unit_draws[1][:5000]
    unit = theory.monte_carlo_benchmarks(values, costs, 0, 1)
    scaled = theory.monte_carlo_benchmarks(100 + 200 * values, 100 + 200 * costs, 100, 300)
    for name, benchmark in unit.items():
        assert scaled[name].efficiency == pytest.approx(benchmark.efficiency, abs=1e-9)
        assert scaled[name].trade_rate == pytest.approx(benchmark.trade_rate, abs=1e-9)
        assert scaled[name].mean_gains == pytest.approx(200 * benchmark.mean_gains)
    assert scaled["best_posted_price"].price == pytest.approx(100 + 200 * unit["best_posted_price"].price)


def test_nash_bargaining_on_draws_splits_by_weight():
    outcome = theory.nash_bargaining_outcomes(np.array([10.0, 4.0]), np.array([6.0, 5.0]), buyer_weight=0.25)
    assert outcome.trade.tolist() == [1.0, 0.0]
    assert outcome.price[0] == pytest.approx(9.0) and np.isnan(outcome.price[1])
    assert (outcome.buyer_surplus.tolist(), outcome.seller_surplus.tolist()) == ([1.0, 0.0], [3.0, 0.0])


# ---------------------------------------------------------------------------------------------------------------
# Disclosure rate α


@pytest.mark.parametrize("mode", theory.ALPHA_MODES)
def test_alpha_curves_run_from_the_second_best_to_first_best(mode):
    assert theory.alpha_efficiency(0.0, mode) == pytest.approx(27 / 32, abs=1e-12)
    assert theory.alpha_efficiency(1.0, mode) == pytest.approx(1.0, abs=1e-12)


def test_alpha_curve_shapes():
    grid = np.linspace(0, 1, 41)
    for mode in ("binary", "continuous"):
        assert np.all(np.diff([theory.alpha_efficiency(a, mode) for a in grid]) > 0)
    assert theory.alpha_efficiency(0.5, "binary") == pytest.approx(27 / 32 + 5 / 128)
    assert theory.alpha_efficiency(0.5, "continuous") == pytest.approx(1 - 3 / 64 + 2 / 512)
    assert theory.alpha_efficiency(0.25, "noisy") < theory.CS_EFFICIENCY  # noisy disclosures trade at a loss
    with pytest.raises(ValueError):
        theory.alpha_efficiency(0.5, "telepathy")


@pytest.mark.parametrize("mode", theory.ALPHA_MODES)
@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.6, 1.0])
def test_alpha_monte_carlo_agrees_with_the_closed_form(unit_draws, mode, alpha):
    values, costs = unit_draws
    result = theory.summarise_mechanism(
        mode, theory.disclosure_outcomes(values, costs, 0, 1, alpha, mode), values, costs
    )
    exact = theory.alpha_efficiency(alpha, mode)
    if alpha == 1.0:
        assert result.efficiency == pytest.approx(1.0)
    else:
        assert result.efficiency_ci[0] <= exact <= result.efficiency_ci[1]


def test_binary_disclosure_at_zero_is_chatterjee_samuelson_play(unit_draws, unit_benchmarks):
    values, costs = unit_draws
    outcome = theory.disclosure_outcomes(values, costs, 0, 1, 0.0, "binary")
    assert outcome.gains.sum() == pytest.approx(unit_benchmarks["chatterjee_samuelson"].mean_gains * DRAWS)


# ---------------------------------------------------------------------------------------------------------------
# The bundle the CLI prints


def test_benchmarks_for_is_json_ready_and_complete(unit_draws):
    values, costs = 50 + 100 * unit_draws[0][:2000], 50 + 100 * unit_draws[1][:2000]
    bundle = theory.benchmarks_for(values, costs, 50, 150, alphas=(0.0, 0.5, 1.0))
    parsed = json.loads(json.dumps(bundle, allow_nan=False))
    assert parsed["draws"] == 2000 and parsed["support"] == {"low": 50.0, "high": 150.0}
    assert set(parsed["monte_carlo"]) == set(theory.UNIFORM_COUNTERPART)
    assert set(parsed["uniform"]) == set(theory.UNIFORM_COUNTERPART.values())
    assert parsed["uniform"]["chatterjee_samuelson"]["efficiency"] == pytest.approx(27 / 32)
    assert len(parsed["disclosure"]) == 3 * len(theory.ALPHA_MODES)
    assert {row["mode"] for row in parsed["disclosure"]} == set(theory.ALPHA_MODES)


def test_benchmarks_for_survives_draws_without_gains():
    bundle = theory.benchmarks_for(np.array([1.0, 2.0]), np.array([3.0, 2.5]), 0, 4)
    json.dumps(bundle, allow_nan=False)
    assert bundle["monte_carlo"]["chatterjee_samuelson"]["efficiency"] is None
    assert bundle["monte_carlo"]["best_posted_price"]["price"] == 2.0  # fixed on the prior, not the draws


def test_theory_draws_and_pooled_gains_share_one_prior_scale():
    """`eval.references.unit_draws` (theory's draws) and `env.outcome.normalised_gains` (the models' pooled
    efficiency) measure in the same prior widths, so reference points and results sit on one scale."""
    from haggle.env.outcome import Outcome, normalised_gains
    from haggle.env.scenario import SamplerConfig, ScenarioSampler
    from haggle.eval.references import unit_draws

    scenarios = ScenarioSampler(SamplerConfig(tiers=[10, 100_000])).sample(40, seed=2)
    values, costs = unit_draws(scenarios)
    for scenario, value, cost in zip(scenarios, values, costs, strict=True):
        outcome = Outcome(
            True, None, 1, 2, "accepted", "buyer", scenario.buyer_value, scenario.seller_cost, 1.0
        )
        realised, available = normalised_gains(outcome, scenario)
        assert realised == pytest.approx(value - cost) and available == pytest.approx(max(value - cost, 0))
