"""The one-shot disclosure phase: scripted disclosure strategies and the measurement of α and truthfulness."""

import pytest
from haggle.env.actions import DEFAULT_ACTIONS, DISCLOSE_VALUE, Unparseable
from haggle.env.agents import Agent, create_agent
from haggle.env.episode_loop import play_episodes
from haggle.env.negotiation import ProtocolRules
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from haggle.eval import stats
from haggle.eval.experiments.disclosure import count_disclosures, disclosure_answers, disclosure_rate

RULES = ProtocolRules(actions=(*DEFAULT_ACTIONS, DISCLOSE_VALUE))


def play(buyer: str, seller: str, count: int = 40, seed: int = 0, **params):
    scenarios = ScenarioSampler(SamplerConfig(tiers=[100.0], max_rounds=5)).sample(count, seed)
    names = {"buyer": buyer, "seller": seller}
    episodes = play_episodes(
        scenarios, lambda role, s: create_agent(names[role], role=role, seed=s.seed, **params), RULES
    )
    return [episode.negotiation.as_record() for episode in episodes]


def efficiency(records) -> float:
    return sum(r["outcome"]["realised_gains"] for r in records) / sum(
        r["outcome"]["available_gains"] for r in records
    )


def test_truthful_disclosers_trade_exactly_when_trade_is_efficient_at_the_midpoint():
    records = play("truthful_discloser", "truthful_discloser")
    assert {r["scenario"]["buyer_value"] > r["scenario"]["seller_cost"] for r in records} == {True, False}
    for record in records:
        scenario, outcome = record["scenario"], record["outcome"]
        efficient = scenario["buyer_value"] >= scenario["seller_cost"]
        assert outcome["deal"] == efficient
        if efficient:
            midpoint = (scenario["buyer_value"] + scenario["seller_cost"]) / 2
            assert outcome["price"] == pytest.approx(midpoint, abs=0.01)
    counts = count_disclosures(records)
    assert (counts.asked, counts.disclosed, counts.truthful, counts.refused) == (80, 80, 80, 0)
    assert counts.mean_abs_misstatement == pytest.approx(0, abs=1e-3) and counts.self_serving == 0


def test_refusers_refuse_and_then_bargain_like_their_inner_strategy():
    records = play("disclosure_refuser", "disclosure_refuser", inner="boulware")
    counts = count_disclosures(records)
    assert (counts.disclosed, counts.refused, counts.no_answer) == (0, 80, 0)
    assert all(r["events"][0]["kind"] == "send_message" for r in records)
    offers = [e for r in records for e in r["events"] if e["kind"] == "make_offer"]
    assert offers  # the negotiation went on after the refusals


def test_shading_overstates_costs_and_understates_values_by_the_factor():
    records = play("shading_discloser", "shading_discloser", shade=0.2, inner="hardliner")
    for record in records:
        answers = disclosure_answers(record)
        assert answers["buyer"].misstatement == pytest.approx(-0.2, abs=1e-3)
        assert answers["seller"].misstatement == pytest.approx(0.2, abs=1e-3)
        assert answers["buyer"].truthful(0.01) is False
    counts = count_disclosures(records)
    assert counts.truthful == 0 and counts.self_serving == counts.disclosed == 80
    # stated values overlap only when the true gap is wide; elsewhere the (hardline) inner strategy bargains
    for record in records:
        v, c = record["scenario"]["buyer_value"], record["scenario"]["seller_cost"]
        split = [e for e in record["events"] if e["kind"] == "make_offer"][:1]
        if v * 0.8 >= c * 1.2:
            assert split[0]["payload"]["price"] == pytest.approx((0.8 * v + 1.2 * c) / 2, abs=0.01)
    assert (
        efficiency(records)
        < efficiency(play("truthful_discloser", "truthful_discloser", inner="hardliner"))
        == 1.0
    )


def test_disclosure_probability_sets_the_disclosure_rate():
    records = play("discloser", "discloser", count=400, seed=1, disclose_probability=0.3)
    counts = count_disclosures(records)
    assert counts.disclosed + counts.refused == counts.asked == 800
    assert counts.disclosed / counts.asked == pytest.approx(0.3, abs=0.06)


class Babbler(Agent):
    """Never produces a readable tool call: forfeits without answering."""

    def decide(self, view):
        return Unparseable("no tool call found")


def test_a_side_that_forfeits_before_any_valid_move_gave_no_answer():
    scenario = ScenarioSampler(SamplerConfig(tiers=[100.0], first_mover="buyer")).sample(1, 0)[0]
    (episode,) = play_episodes(
        [scenario],
        lambda role, s: Babbler(role) if role == "buyer" else create_agent("truthful_discloser", role=role),
        RULES,
    )
    answers = disclosure_answers(episode.negotiation.as_record())
    assert answers["buyer"].answer == "no_answer" and answers["buyer"].stated_value is None
    assert answers["seller"].answer == "no_answer"  # the seller never got a turn


def test_disclosure_settings_are_checked():
    with pytest.raises(ValueError, match="disclose_probability"):
        create_agent("discloser", role="buyer", disclose_probability=1.5)
    with pytest.raises(ValueError, match="unknown agent"):
        create_agent("discloser", role="buyer", inner="no_such_strategy")


def test_the_disclosure_rate_interval_counts_dialogues_not_sides():
    """In self-play both sides of a dialogue answer alike: 30 dialogues where both disclose and 30 where both
    refuse are 60 independent trials, not 120, and the interval must be as wide as 30/60 says."""
    records = play("truthful_discloser", "truthful_discloser", count=30) + play(
        "disclosure_refuser", "disclosure_refuser", count=30, seed=1
    )
    rate = disclosure_rate(records)
    sides = stats.wilson_interval(60, 120)
    dialogues = stats.wilson_interval(30, 60)
    assert rate.estimate == 0.5 and rate.n == 60
    assert rate.high - rate.low > sides.high - sides.low
    assert rate.high - rate.low == pytest.approx(dialogues.high - dialogues.low, abs=0.03)
    # every side disclosed: Wilson on the 30 dialogues, not on 60 sides
    everyone = disclosure_rate(records[:30])
    assert (everyone.estimate, everyone.low, everyone.high) == (1.0, stats.wilson_interval(30, 30).low, 1.0)
