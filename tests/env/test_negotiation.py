"""The protocol's rules: binding offers, turn order, round limit and every kind of bad move."""

import math

import pytest
from haggle.env.actions import ToolCall, Unparseable
from haggle.env.negotiation import Negotiation, ProtocolRules, offer_call
from haggle.env.scenario import SamplerConfig, ScenarioSampler


@pytest.fixture
def scenario():
    return ScenarioSampler(SamplerConfig(max_rounds=3)).sample(1, seed=7)[0]


def test_accepting_the_standing_offer_closes_the_deal_at_that_price(scenario):
    game = Negotiation(scenario)
    assert game.turn == "seller"
    assert game.step("seller", offer_call(12.5, "fair price")).ok
    result = game.step("buyer", ToolCall("accept_offer"))
    assert result.ok and result.done and result.terminated and not result.truncated
    assert game.outcome.deal and game.outcome.price == 12.5
    assert game.outcome.end_reason == "accepted" and game.outcome.ended_by == "buyer"


def test_a_counteroffer_replaces_the_standing_offer(scenario):
    game = Negotiation(scenario)
    game.step("seller", offer_call(14.0))
    game.step("buyer", offer_call(8.0))
    game.step("seller", ToolCall("accept_offer"))
    assert game.outcome.price == 8.0  # the buyer's offer, not the seller's own earlier one


def test_messages_never_bind(scenario):
    game = Negotiation(scenario)
    game.step("seller", ToolCall("send_message", {"text": "I would take 5 dollars"}))
    result = game.step("buyer", ToolCall("accept_offer"))
    assert not result.ok and "no offer" in result.feedback
    assert not game.done and game.violations["buyer"] == 1


def test_own_offer_cannot_be_accepted_and_rejection_clears_the_table(scenario):
    game = Negotiation(scenario)
    game.step("seller", offer_call(11.0))
    game.step("buyer", ToolCall("reject_offer", {"message": "too much"}))
    assert game.standing_offer is None
    assert not game.step("seller", ToolCall("accept_offer")).ok  # no buyer offer stands


def test_round_limit_ends_without_a_deal_as_truncation(scenario):
    game = Negotiation(scenario)
    results = [game.step(role, offer_call(10.0 + i)) for i, role in enumerate(["seller", "buyer"] * 3)]
    assert results[-1].done and results[-1].truncated and not results[-1].terminated
    assert not game.outcome.deal and game.outcome.end_reason == "round_limit"
    assert game.outcome.rounds == 3 and game.outcome.turns == 6


def test_walk_away_ends_the_game(scenario):
    game = Negotiation(scenario)
    result = game.step("seller", ToolCall("walk_away"))
    assert result.done and result.terminated and game.outcome.end_reason == "walked_away"
    assert not game.step("buyer", offer_call(3.0)).ok


BAD_MOVES = [
    (ToolCall("buy_it_now", {}), "unknown tool"),
    (ToolCall("make_offer", {}), "missing required argument 'price'"),
    (ToolCall("make_offer", '{"price": 12'), "not valid JSON"),
    (ToolCall("make_offer", "[1, 2]"), "must be a JSON object"),
    (ToolCall("make_offer", {"price": "twelve"}), "must be a number"),
    (ToolCall("make_offer", {"price": math.nan}), "finite"),
    (ToolCall("make_offer", {"price": math.inf}), "finite"),
    (ToolCall("make_offer", {"price": -4}), "positive"),
    (ToolCall("make_offer", {"price": 0}), "positive"),
    (ToolCall("make_offer", {"price": 1e12}), "absurd"),
    (ToolCall("make_offer", {"price": True}), "boolean"),
    (ToolCall("make_offer", {"price": 10, "discount": 3}), "unexpected argument"),
    (ToolCall("accept_offer"), "no offer"),
    (ToolCall("reject_offer"), "no offer"),
    (ToolCall("send_message", {"text": "x" * 5000}), "too long"),
    (ToolCall("send_message", {"text": "   "}), "non-empty"),
    (ToolCall("send_message", {"text": 42}), "must be a string"),
    (Unparseable("no tool call found in your reply"), "no tool call found"),
]


@pytest.mark.parametrize(("move", "expected"), BAD_MOVES)
def test_bad_moves_are_readable_errors_and_recorded_violations(scenario, move, expected):
    game = Negotiation(scenario)
    result = game.step("seller", move)
    assert not result.ok and not result.done
    assert expected in result.feedback and result.feedback.startswith("Error:")
    assert game.violations == {"buyer": 0, "seller": 1}
    assert game.events[-1].kind == "violation" and not game.events[-1].public
    assert game.view("seller").last_error and expected in game.view("seller").last_error
    assert game.view("seller").last_feedback == result.feedback and game.view("buyer").last_feedback is None
    assert game.turn == "seller"  # the turn is not lost: the episode goes on
    assert game.step("seller", offer_call(12.0)).ok


def test_each_side_views_the_reply_to_its_own_previous_move(scenario):
    game = Negotiation(scenario)
    assert game.view("seller").last_feedback is None and game.view("buyer").last_feedback is None
    game.step("seller", offer_call(12.5))
    assert game.view("seller").last_feedback == "Your offer of $12.50 is on the table."
    assert game.view("buyer").last_feedback is None  # the other side's move is an event, not a reply
    game.step("buyer", ToolCall("reject_offer"))
    game.step("seller", ToolCall("send_message", {"text": "Make me an offer."}))
    assert game.view("buyer").last_feedback == "You rejected the seller's offer."
    assert game.view("seller").last_feedback == "Message sent to the buyer."
    game.step("buyer", offer_call(9.0))
    result = game.step("seller", ToolCall("accept_offer"))
    assert game.view("seller").last_feedback == result.feedback == "Deal closed at $9.00."
    assert game.view("buyer").last_feedback == "Your offer of $9.00 is on the table."
    assert game.step("buyer", offer_call(10.0)).feedback == game.view("buyer").last_feedback


def test_acting_out_of_turn_is_a_violation_of_the_mover(scenario):
    game = Negotiation(scenario)
    result = game.step("buyer", offer_call(5.0))
    assert not result.ok and "not your turn" in result.feedback
    assert game.violations["buyer"] == 1 and game.turn == "seller"


def test_too_many_violations_forfeit_the_episode(scenario):
    game = Negotiation(scenario, ProtocolRules(max_violations=2))
    game.step("seller", ToolCall("nope"))
    result = game.step("seller", ToolCall("nope"))
    assert result.done and result.terminated and "forfeit" in result.feedback
    assert (
        game.outcome.end_reason == "forfeit" and game.outcome.ended_by == "seller" and not game.outcome.deal
    )


def test_errors_never_name_a_private_value(scenario):
    game = Negotiation(scenario)
    for move, _ in BAD_MOVES[:-1]:
        feedback = Negotiation(scenario).step("seller", move).feedback
        for value in (scenario.buyer_value, scenario.seller_cost):
            assert f"{value:,.2f}" not in feedback and str(value) not in feedback
    assert game.violations["seller"] == 0


def test_every_view_field_comes_from_its_own_source():
    """The engine builds views positionally (the hot path): each field must still hold what its name says."""
    scenario = ScenarioSampler(SamplerConfig(value_model="hotel_room_block", domains=["hotel_b2b"])).sample(
        1, 2
    )[0]
    game = Negotiation(scenario, ProtocolRules(max_violations=4))
    first, second = scenario.first_mover, "buyer" if scenario.first_mover == "seller" else "seller"
    game.step(first, offer_call(scenario.value_high))
    refused = game.step(second, ToolCall("accept_offer", {"price": 1}))  # a violation: unexpected argument
    view = game.view(second)
    assert {name: getattr(view, name) for name in view.__dataclass_fields__} == {
        "role": second,
        "private_value": scenario.private_value(second),
        "domain": scenario.domain,
        "item": scenario.item,
        "price_tier": scenario.price_tier,
        "value_low": scenario.value_low,
        "value_high": scenario.value_high,
        "round": 1,
        "max_rounds": scenario.max_rounds,
        "discount": scenario.discount,
        "is_my_turn": True,
        "turns_left": scenario.max_rounds,
        "history": game.public_history,
        "standing_offer": game.standing_offer,
        "my_offer": None,
        "allowed_actions": game.rules.actions,
        "violations": 1,
        "max_violations": 4,
        "max_price": scenario.value_high * game.rules.max_price_factor,
        "last_error": game.last_error[second],
        "reply": refused,
        "done": False,
        "context": scenario.context,
    }
    assert view.last_error and view.standing_offer.by == first and len(view.history) == 1
    assert view.last_feedback == refused.feedback and refused.feedback.startswith("Error: ")
