"""Defect 10: δ^(rounds-1) discounts what a deal is worth in eval metrics, as it does in the prompts and the reward;
and efficiency in money beside efficiency in prior widths (defect 5)."""

import pytest
from haggle.env.metrics import summarise
from haggle.env.outcome import Outcome
from haggle.env.scenario import SamplerConfig, ScenarioSampler


def _late_deal(scenario, discount_factor: float) -> Outcome:
    price = (scenario.buyer_value + scenario.seller_cost) / 2
    return Outcome(
        True, price, 10, 20, "accepted", "buyer", scenario.buyer_value, scenario.seller_cost, discount_factor
    )


def test_a_discount_below_one_lowers_efficiency_and_shares():
    scenarios = [
        s for s in ScenarioSampler(SamplerConfig(tiers=[100.0])).sample(40, seed=2) if s.has_zone_of_agreement
    ]
    patient = summarise([(s, _late_deal(s, 1.0)) for s in scenarios])
    impatient = summarise([(s, _late_deal(s, 0.8**9)) for s in scenarios])
    assert patient["efficiency"] == pytest.approx(1.0)
    assert impatient["efficiency"] == pytest.approx(0.8**9)
    assert impatient["efficiency_money"] == pytest.approx(0.8**9)
    assert impatient["surplus_share_unconditional"]["buyer"] == pytest.approx(0.5 * 0.8**9)


def test_efficiency_in_money_weights_expensive_items_more_than_prior_widths_do():
    scenarios = [
        s
        for s in ScenarioSampler(SamplerConfig(tiers=[10.0, 1000.0])).sample(40, seed=5)
        if s.has_zone_of_agreement
    ]
    played = [(s, _late_deal(s, 1.0 if s.price_tier == "1k" else 0.5)) for s in scenarios]
    found = summarise(played)
    assert found["efficiency_money"] > 0.95 > found["efficiency"]
