"""Strategy analytics on hand-built episodes whose first offers and concessions are known."""

import pytest
from haggle.env.outcome import Outcome
from haggle.env.scenario import SamplerConfig, Scenario, ScenarioSampler
from haggle.eval.analytics import first_offer_position, offer_analytics, price_discrimination


def scenarios(count: int = 4, tiers=(100.0, 10_000.0)) -> list[Scenario]:
    return ScenarioSampler(SamplerConfig(tiers=list(tiers), domains=["abstract"])).sample(count, seed=0)


def outcome(
    scenario: Scenario, offers: dict[str, list[float]], deal: bool = False, rounds: int = 3
) -> Outcome:
    return Outcome(
        deal=deal,
        price=offers["buyer"][-1] if deal else None,
        rounds=rounds,
        turns=2 * rounds,
        end_reason="accepted" if deal else "round_limit",
        ended_by="seller" if deal else None,
        buyer_value=scenario.buyer_value,
        seller_cost=scenario.seller_cost,
        discount_factor=1.0,
        offers=offers,
    )


def test_anchoring_concession_and_patience_have_their_known_values():
    played = []
    for index, scenario in enumerate(scenarios()):
        v, c = scenario.buyer_value, scenario.seller_cost
        offers = {"buyer": [0.6 * v, 0.7 * v, 0.8 * v], "seller": [1.5 * c, 1.3 * c]}
        played.append((scenario, outcome(scenario, offers, deal=index < 2, rounds=3 + 2 * index)))
    buyer, seller = offer_analytics(played, "buyer"), offer_analytics(played, "seller")
    assert buyer["first_offer_ratio"] == pytest.approx(0.6)
    assert buyer["concession_per_offer"] == pytest.approx(0.1)  # (0.8v - 0.6v) / v over two steps
    assert seller["first_offer_ratio"] == pytest.approx(1.5)
    assert seller["concession_per_offer"] == pytest.approx(0.2)  # sellers concede downwards
    assert buyer["rounds_to_agreement"] == pytest.approx(4.0)  # the deals took 3 and 5 rounds
    assert seller["rounds_to_agreement"] == pytest.approx(4.0)
    assert buyer["episodes_with_offer"] == 4


def test_first_offer_position_in_the_public_prior():
    scenario = scenarios(1)[0]
    assert first_offer_position(scenario, scenario.value_low) == 0
    assert first_offer_position(scenario, scenario.value_high) == 1
    middle = (scenario.value_low + scenario.value_high) / 2
    assert first_offer_position(scenario, middle) == pytest.approx(0.5)
    assert first_offer_position(scenario, None) is None
    no_offer = offer_analytics([(scenario, outcome(scenario, {"buyer": [], "seller": []}))], "buyer")
    assert no_offer["first_offer_ratio"] is None and no_offer["episodes_with_offer"] == 0


def test_price_discrimination_is_the_slope_of_log_first_offer_on_log_price():
    drawn = scenarios(8)
    proportional = [
        (s, outcome(s, {"buyer": [0.5 * s.item.reference_price], "seller": [60.0]})) for s in drawn
    ]
    scaled = price_discrimination(proportional, "buyer", resamples=200)
    assert scaled["slope"] == pytest.approx(1.0) and scaled["slope_ci"] == pytest.approx([1.0, 1.0])
    assert scaled["price_levels"] == 2 and scaled["episodes"] == 8
    flat = price_discrimination(proportional, "seller", resamples=200)  # the same 60 whatever the item
    assert flat["slope"] == pytest.approx(0.0, abs=1e-12)
    square_root = [(s, outcome(s, {"buyer": [s.item.reference_price**0.5], "seller": []})) for s in drawn]
    assert price_discrimination(square_root, "buyer", resamples=200)["slope"] == pytest.approx(0.5)
    one_tier = [(s, outcome(s, {"buyer": [10.0], "seller": []})) for s in scenarios(3, tiers=(100.0,))]
    assert price_discrimination(one_tier, "buyer")["slope"] is None
