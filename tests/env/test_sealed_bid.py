"""The k-double auction and the Chatterjee–Samuelson linear-equilibrium bidders."""

import pytest
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from haggle.env.sealed_bid import (
    LinearEquilibriumBidder,
    TruthfulBidder,
    k_double_auction,
    linear_equilibrium_bid,
    play_sealed_bid,
)


def test_trade_iff_bid_at_least_ask_at_the_k_price():
    scenario = ScenarioSampler().sample(1, seed=0)[0]
    outcome = k_double_auction(scenario, bid=10.0, ask=6.0, k=0.25)
    assert outcome.deal and outcome.price == pytest.approx(0.25 * 10 + 0.75 * 6)
    assert not k_double_auction(scenario, bid=5.0, ask=6.0).deal


def test_linear_equilibrium_on_the_unit_square():
    assert linear_equilibrium_bid("buyer", 1.0, 0, 1) == pytest.approx(2 / 3 + 1 / 12)
    assert linear_equilibrium_bid("seller", 0.0, 0, 1) == pytest.approx(1 / 4)
    # trade happens iff v >= c + 1/4 under k = 1/2
    assert linear_equilibrium_bid("buyer", 0.5, 0, 1) >= linear_equilibrium_bid("seller", 0.25, 0, 1)
    assert linear_equilibrium_bid("buyer", 0.5, 0, 1) < linear_equilibrium_bid("seller", 0.26, 0, 1)


def test_linear_equilibrium_realises_27_32_of_the_first_best():
    scenarios = ScenarioSampler(SamplerConfig(tiers=[100.0])).sample(20000, seed=3)
    realised = available = 0.0
    for scenario in scenarios:
        outcome = play_sealed_bid(
            scenario, LinearEquilibriumBidder("buyer"), LinearEquilibriumBidder("seller")
        )
        realised += outcome.realised_gains
        available += outcome.available_gains
    assert realised / available == pytest.approx(27 / 32, abs=0.015)
    truthful = [
        play_sealed_bid(s, TruthfulBidder("buyer"), TruthfulBidder("seller")) for s in scenarios[:500]
    ]
    assert all(o.deal == (o.buyer_value >= o.seller_cost) for o in truthful)
