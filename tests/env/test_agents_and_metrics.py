"""Scripted agents and the metrics computed from their episodes."""

import pytest
from haggle.env.agents import AGENT_REGISTRY, create_agent
from haggle.env.episode_loop import play_episodes
from haggle.env.metrics import summarise_by_tier
from haggle.env.scenario import SamplerConfig, ScenarioSampler

STRATEGIES = ["boulware", "linear", "conceder", "tit_for_tat", "hardliner", "posted_price", "random"]
SCENARIOS = ScenarioSampler(SamplerConfig(first_mover="random")).sample(150, seed=21)


def play(buyer, seller, scenarios=SCENARIOS, **params):
    names = {"buyer": buyer, "seller": seller}
    return play_episodes(
        scenarios, lambda role, s: create_agent(names[role], role=role, seed=s.seed, **params)
    )


@pytest.mark.parametrize("buyer", STRATEGIES)
@pytest.mark.parametrize("seller", STRATEGIES)
def test_scripted_agents_never_trade_at_a_loss_nor_break_rules(buyer, seller):
    for episode in play(buyer, seller):
        outcome = episode.outcome
        assert outcome.irrational_side is None
        assert outcome.violations == {"buyer": 0, "seller": 0}
        if outcome.deal and outcome.available_gains > 0:
            assert outcome.surplus_share("buyer") + outcome.surplus_share("seller") == pytest.approx(1.0)
            assert 0 <= outcome.surplus_share("buyer") <= 1


def test_agents_are_deterministic_given_the_seed():
    first = [e.as_record() for e in play("random", "tit_for_tat")]
    assert first == [e.as_record() for e in play("random", "tit_for_tat")]
    assert all(turn["move"] for record in first for turn in record["turns"])  # slotted moves serialise


def test_accept_losses_lets_an_agent_take_a_losing_deal():
    losses = [e for e in play("random", "hardliner", accept_losses=True) if e.outcome.irrational_side]
    assert losses and all(e.outcome.irrational_deal_induced for e in losses)


def test_boulware_holds_out_longer_than_a_conceder():
    slow = summarise_by_tier([(e.scenario, e.outcome) for e in play("boulware", "boulware")])
    fast = summarise_by_tier([(e.scenario, e.outcome) for e in play("conceder", "conceder")])
    assert slow["mean_rounds_to_deal"] > fast["mean_rounds_to_deal"]
    assert slow["first_offer_ratio"]["seller"] > 1 > slow["first_offer_ratio"]["buyer"]


def test_summary_per_tier_and_rates():
    summary = summarise_by_tier([(e.scenario, e.outcome) for e in play("linear", "linear")])
    assert set(summary["tiers"]) == {s.price_tier for s in SCENARIOS}
    assert summary["episodes"] == sum(t["episodes"] for t in summary["tiers"].values())
    # linear vs linear concedes to the reservation values by the deadline, so every feasible deal closes
    assert summary["efficient_trade_rate"] == 1.0 and summary["correct_walk_away_rate"] == 1.0
    assert summary["efficiency"] == pytest.approx(1.0)
    shares = summary["surplus_share"]
    assert shares["buyer"] + shares["seller"] == pytest.approx(1.0)


def test_unknown_agent_and_parameter_fail_with_the_known_names():
    with pytest.raises(ValueError, match="registered agents"):
        create_agent("telepath", role="buyer")
    with pytest.raises(ValueError, match="boulware"):
        create_agent("boulware", role="buyer", patience=3)
    assert set(STRATEGIES) <= set(AGENT_REGISTRY)
