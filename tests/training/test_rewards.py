"""Reward values pinned on hand-played games: v = 120, c = 80, so |v - c| = 40."""

from dataclasses import dataclass

import pytest
from haggle.env.actions import ToolCall
from haggle.env.catalogue import Item
from haggle.env.domains import builtin_domains
from haggle.env.negotiation import Negotiation, offer_call
from haggle.env.scenario import Role, Scenario
from haggle.training.rewards import (
    RewardShaping,
    clipped_surplus_score,
    get_reward_funcs,
    surplus_share_score,
)

DEFAULT = RewardShaping()


@dataclass
class Played:
    negotiation: Negotiation
    role: Role
    opponent_failure: BaseException | None = None


def game(discount: float = 1.0) -> Negotiation:
    scenario = Scenario(
        scenario_id="pinned",
        seed=0,
        domain=builtin_domains()["abstract"],
        item=Item("an indivisible good", "abstract", "", 100.0),
        price_tier="100",
        buyer_value=120.0,
        seller_cost=80.0,
        value_low=50.0,
        value_high=150.0,
        max_rounds=4,
        discount=discount,
    )
    return Negotiation(scenario)


def deal_at(
    price: float, *, buyer_violations: int = 0, rounds: int = 1, discount: float = 1.0
) -> Negotiation:
    """The seller offers `price` (after some haggling), the buyer accepts it."""
    negotiation = game(discount)
    for _ in range(rounds - 1):
        negotiation.step("seller", offer_call(149.0))
        negotiation.step("buyer", offer_call(51.0))
    negotiation.step("seller", offer_call(price))
    for _ in range(buyer_violations):
        negotiation.step("buyer", ToolCall("make_offer", {"amount": 1}))
    negotiation.step("buyer", ToolCall("accept_offer"))
    assert negotiation.outcome is not None and negotiation.outcome.deal
    return negotiation


@pytest.mark.parametrize(
    ("price", "role", "shaped", "published"),
    [
        (100.0, "buyer", 0.5, 0.5),
        (100.0, "seller", 0.5, 0.5),
        (90.0, "buyer", 0.75, 0.75),
        (90.0, "seller", 0.25, 0.25),
        (130.0, "buyer", -0.25 - 0.5, -0.25),  # a loss to the buyer: the irrational-deal penalty applies
        (130.0, "seller", 1.0, 1.0),  # 50 / 40, clipped
        (60.0, "buyer", 1.0, 1.0),  # the seller sold at a loss; the buyer's 60 / 40 is clipped
    ],
)
def test_deal_rewards(price, role, shaped, published):
    negotiation = deal_at(price)
    assert surplus_share_score(negotiation, role, DEFAULT) == pytest.approx(shaped)
    assert clipped_surplus_score(negotiation, role) == pytest.approx(published)


def test_no_deal_is_worth_the_no_deal_value():
    negotiation = game()
    negotiation.step("seller", ToolCall("walk_away"))
    assert surplus_share_score(negotiation, "buyer", DEFAULT) == 0.0
    assert surplus_share_score(negotiation, "buyer", RewardShaping(no_deal_value=-0.2)) == pytest.approx(-0.2)
    assert clipped_surplus_score(negotiation, "buyer") == 0.0


def test_round_limit_without_deal_is_no_deal_not_a_violation():
    negotiation = game()
    for _ in range(4):
        negotiation.step("seller", offer_call(140.0))
        negotiation.step("buyer", offer_call(60.0))
    assert negotiation.done and not negotiation.outcome.deal
    assert clipped_surplus_score(negotiation, "buyer") == 0.0


def test_each_violation_costs_the_penalty_and_any_violation_is_minus_one_in_the_preset():
    negotiation = deal_at(100.0, buyer_violations=2)
    assert surplus_share_score(negotiation, "buyer", DEFAULT) == pytest.approx(0.5 - 2 * 0.1)
    assert clipped_surplus_score(negotiation, "buyer") == -1.0
    assert clipped_surplus_score(negotiation, "seller") == 0.5  # the seller played cleanly


def test_an_unfinished_episode_is_worth_less_than_any_finished_one():
    negotiation = game()
    negotiation.step("seller", offer_call(110.0))  # the model (buyer) never answers
    assert surplus_share_score(negotiation, "buyer", DEFAULT) == pytest.approx(-2.0)
    assert surplus_share_score(negotiation, "buyer", RewardShaping(unfinished_value=-3.0)) == -3.0
    worst_deal = surplus_share_score(deal_at(1000.0), "buyer", DEFAULT)  # clipped to -1, then penalised
    assert worst_deal == pytest.approx(-1.5)
    assert clipped_surplus_score(negotiation, "buyer") == -1.0
    with pytest.raises(ValueError, match="must be below the worst finished outcome"):
        RewardShaping(unfinished_value=-1.5)


def test_forfeiting_is_quitting_and_the_opponents_forfeit_is_no_deal():
    """Three invalid moves end the game as the mover's forfeit. Scored as a no deal minus its violations (-0.3) it
    was the cheapest way out of a bad deal, and GRPO on the tiny model learned it (the learning study, seed 1)."""
    negotiation = game()
    negotiation.step("seller", offer_call(110.0))
    for _ in range(3):
        negotiation.step("buyer", ToolCall("make_offer", {"amount": 1}))  # below the public range: invalid
    outcome = negotiation.outcome
    assert outcome.end_reason == "forfeit" and outcome.ended_by == "buyer" and not outcome.deal
    assert surplus_share_score(negotiation, "buyer", DEFAULT) == pytest.approx(-2.0 - 3 * 0.1)
    assert surplus_share_score(negotiation, "buyer", DEFAULT) < surplus_share_score(
        deal_at(1000.0), "buyer", DEFAULT
    )
    assert surplus_share_score(negotiation, "seller", DEFAULT) == 0.0  # the other side's forfeit: no deal
    assert clipped_surplus_score(negotiation, "buyer") == -1.0


def test_length_penalty_and_discount():
    late = deal_at(100.0, rounds=2)
    assert surplus_share_score(late, "buyer", RewardShaping(length_penalty=0.2)) == pytest.approx(
        0.5 - 0.2 * 2 / 4
    )
    discounted = deal_at(100.0, rounds=2, discount=0.9)
    assert surplus_share_score(discounted, "buyer", DEFAULT) == pytest.approx(0.5 * 0.9)


def test_registry_by_name_and_dotted_path():
    shaped, published, dotted = get_reward_funcs(
        ["surplus_share", "clipped_surplus", f"{__name__}.constant_reward"], DEFAULT
    )
    played = [Played(deal_at(90.0), "buyer"), Played(deal_at(90.0, buyer_violations=1), "buyer")]
    assert shaped(environments=played, completions=[[], []]) == pytest.approx([0.75, 0.65])
    assert published(environments=played) == pytest.approx([0.75, -1.0])
    assert dotted(environments=played) == [7.0, 7.0]
    with pytest.raises(ValueError, match="registered: surplus_share, clipped_surplus"):
        get_reward_funcs(["surplus"], DEFAULT)


def constant_reward(environments, **kwargs):
    return [7.0] * len(environments)


def test_a_failed_opponent_voids_the_rollout_and_truncation_is_told_from_quitting():
    unfinished = game()
    played = [Played(deal_at(90.0), "buyer", ConnectionError("down")), Played(unfinished, "buyer")]
    shaped, published = get_reward_funcs(["surplus_share", "clipped_surplus"], DEFAULT)
    still_calling = [
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "make_offer"}}]}
    ]
    assert shaped(environments=played, completions=[[], still_calling]) == [None, DEFAULT.truncated_value]
    assert shaped(environments=played, completions=[[], [{"role": "assistant", "content": "bye"}]])[1] == -2.0
    assert published(environments=played)[0] is None
    masked = RewardShaping(truncated_value=None)
    assert surplus_share_score(unfinished, "buyer", masked, truncated=True) is None
    assert (
        surplus_share_score(unfinished, "buyer", RewardShaping(truncated_value=-3.0), truncated=True) == -3.0
    )


def test_writing_past_the_budget_is_no_way_out_of_a_bad_deal():
    """At -1.0 (the old default) a cut episode beat a deal at a loss (-1.5): once forfeiting cost -2.3, rambling to
    the token budget would have been the cheapest exit. The start-up budget check fits the longest legitimate
    episode, so a cut one wrote too much."""
    worst_deal = surplus_share_score(deal_at(1000.0), "buyer", DEFAULT)
    assert DEFAULT.truncated_value is not None and DEFAULT.truncated_value < worst_deal
    with pytest.raises(
        ValueError, match="truncated_value \\(-1.0\\) must be below the worst finished outcome"
    ):
        RewardShaping(truncated_value=-1.0)
