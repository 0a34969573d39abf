"""Mechanisms as negotiators: their efficiency on uniform scenarios matches the closed forms."""

import dataclasses

import pytest
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from haggle.eval.experiments.mechanisms import MechanismSpec

SCENARIOS = ScenarioSampler(SamplerConfig(tiers=[100.0])).sample(6000, seed=5)


def efficiency(spec: MechanismSpec) -> float:
    outcomes = [spec.play(scenario) for scenario in SCENARIOS]
    return sum(o.realised_gains for o in outcomes) / sum(o.available_gains for o in outcomes)


@pytest.mark.parametrize(
    ("mechanism", "params", "share_of_first_best"),
    [
        ("k_double_auction", {"k": 0.5}, 27 / 32),
        ("k_double_auction", {"bidders": "truthful"}, 1.0),
        ("posted_price", {"rule": "midpoint"}, 3 / 4),
        ("posted_price", {"rule": "seller_monopoly"}, 3 / 4),
        ("posted_price", {"rule": "buyer_monopoly"}, 3 / 4),
        ("posted_price", {"rule": "random_proposer"}, 3 / 4),
    ],
)
def test_efficiency_matches_the_closed_form(mechanism, params, share_of_first_best):
    assert efficiency(MechanismSpec("row", mechanism, params)) == pytest.approx(share_of_first_best, abs=0.02)


def test_posted_prices_never_trade_at_a_loss_and_the_proposer_takes_the_monopoly_price():
    scenario = SCENARIOS[0]
    for rule in ("midpoint", "seller_monopoly", "buyer_monopoly", "random_proposer"):
        for s in SCENARIOS[:300]:
            outcome = MechanismSpec("row", "posted_price", {"rule": rule}).play(s)
            assert outcome.irrational_side is None
    outcome = MechanismSpec("row", "posted_price", {"rule": "seller_monopoly"}).play(scenario)
    assert outcome.offers == {"seller": [round((scenario.value_high + scenario.seller_cost) / 2, 2)]}
    proposers = {
        next(iter(MechanismSpec("r", "posted_price", {"rule": "random_proposer"}).play(s).offers))
        for s in SCENARIOS[:50]
    }
    assert proposers == {"buyer", "seller"}


def test_unknown_mechanisms_and_parameters_fail_clearly():
    with pytest.raises(ValueError, match="unknown mechanism"):
        MechanismSpec("row", "vickrey")
    with pytest.raises(ValueError, match="row"):
        MechanismSpec("row", "posted_price", {"price": 3}).play(SCENARIOS[0])
    with pytest.raises(ValueError, match="posted-price rule"):
        MechanismSpec("row", "posted_price", {"rule": "auction"}).play(SCENARIOS[0])


def test_a_price_posted_from_the_deals_public_facts_trades_iff_both_accept_it():
    scenario = dataclasses.replace(SCENARIOS[0], context={"rate_card_total": 90.0, "rooms": 20})
    spec = MechanismSpec("naive", "posted_price", {"rule": "from_context", "context_key": "rate_card_total"})
    for value, cost in ((120.0, 80.0), (85.0, 60.0), (130.0, 95.0)):
        outcome = spec.play(dataclasses.replace(scenario, buyer_value=value, seller_cost=cost))
        assert outcome.deal == (cost <= 90.0 <= value)
        assert outcome.price == (90.0 if outcome.deal else None)
    with pytest.raises(ValueError, match="no numeric public fact 'rooms_left'"):
        MechanismSpec("x", "posted_price", {"rule": "from_context", "context_key": "rooms_left"}).play(
            scenario
        )
    with pytest.raises(ValueError, match="context_key goes with rule 'from_context'"):
        MechanismSpec("x", "posted_price", {"context_key": "rate_card_total"}).play(scenario)


def test_a_group_discount_lowers_the_posted_price_and_only_applies_to_a_quoted_one():
    scenario = dataclasses.replace(
        SCENARIOS[0], context={"rate_card_total": 100.0}, buyer_value=85.0, seller_cost=60.0
    )
    params = {"rule": "from_context", "context_key": "rate_card_total"}
    assert not MechanismSpec("card", "posted_price", params).play(scenario).deal  # 100 > v = 85
    discounted = MechanismSpec("group", "posted_price", {**params, "discount": 0.3}).play(scenario)
    assert discounted.deal and discounted.price == 70.0
    for bad in ({**params, "discount": 1.0}, {"rule": "midpoint", "discount": 0.1}):
        with pytest.raises(ValueError, match="discount"):
            MechanismSpec("x", "posted_price", bad).play(scenario)
