"""The engine's shortcuts for scripted play change nothing: each is checked against the slow path it skips."""

import math
import random

import pytest
from haggle.env.actions import DEFAULT_ACTIONS, DISCLOSE_VALUE, Action
from haggle.env.agents import create_agent
from haggle.env.agents.base import Agent
from haggle.env.episode_loop import play_episodes
from haggle.env.negotiation import Negotiation, ProtocolRules, round_cents
from haggle.env.scenario import ROLES, SamplerConfig, ScenarioSampler

STRATEGIES = ["boulware", "conceder", "hardliner", "linear", "posted_price", "random", "tit_for_tat"]


def test_round_cents_is_round_to_two_digits():
    rng = random.Random(0)
    halves = [(k + 0.5) / 100 for k in range(-2000, 20000)]  # the ties, where a shortcut would go wrong first
    drawn = [rng.uniform(0, 10 ** rng.randint(0, 12)) for _ in range(100_000)]
    special = [0.0, -0.0, -0.004, -12.345, 1e-9, 1.005, 2.675, 1e11, 1e15, 5e-3, math.nextafter(0.005, 0)]
    for amount in halves + drawn + special:
        fast, expected = round_cents(amount), round(amount, 2)
        assert (fast, math.copysign(1, fast)) == (expected, math.copysign(1, expected)), amount


ACTIONS = [
    Action("make_offer", 14.0),
    Action("make_offer", 12),  # an int: parsing turns it into a float
    Action("make_offer", math.nan),
    Action("make_offer", math.inf),
    Action("make_offer", None),
    Action("make_offer", 12.345, "a message"),
    Action("make_offer", -3.0),
    Action("accept_offer", 3.0),  # a price where none belongs
    Action("disclose_value", 9.5),
    Action("send_message"),
    Action("send_message", message="hello"),
    Action("reject_offer", message=""),
    Action("reject_offer"),
    Action("bogus"),
    Action("make_offer", 11.111),
    Action("accept_offer"),
    Action("walk_away"),
]


@pytest.mark.parametrize("actions", [None, (*DEFAULT_ACTIONS, DISCLOSE_VALUE)])
def test_an_action_plays_exactly_as_its_tool_call(actions):
    """A scripted agent's `Action` skips parsing; every observable result must equal that of its tool call."""
    scenario = ScenarioSampler(SamplerConfig(max_rounds=4)).sample(1, seed=5)[0]
    rules = ProtocolRules(max_violations=20, **({"actions": actions} if actions else {}))
    fast, slow = Negotiation(scenario, rules), Negotiation(scenario, rules)
    for action in ACTIONS:
        role = fast.turn
        quick, parsed = fast.step(role, action), slow.step(role, action.as_tool_call())
        assert (quick.ok, quick.feedback, quick.done, quick.terminated, quick.truncated) == (
            parsed.ok,
            parsed.feedback,
            parsed.done,
            parsed.terminated,
            parsed.truncated,
        ), action
        for side in ROLES:
            assert fast.view(side).last_feedback == slow.view(side).last_feedback
            assert fast.view(side).history == slow.view(side).history
    assert fast.as_record() == slow.as_record()
    assert fast.done  # the walk-away ended it


class ThroughToolCalls(Agent):
    """The slow path: the strategy's tool call, parsed by the engine, as every other agent's move is."""

    def __init__(self, inner: Agent) -> None:
        super().__init__(inner.role, inner.seed)
        self.inner = inner

    def decide(self, view):
        return self.inner.decide(view)


@pytest.mark.parametrize("seller", STRATEGIES)
@pytest.mark.parametrize("buyer", STRATEGIES)
def test_scripted_fast_path_plays_the_same_episodes_as_tool_calls(buyer, seller):
    scenarios = ScenarioSampler(SamplerConfig()).sample(30, seed=11)
    names = {"buyer": buyer, "seller": seller}

    def build(role, scenario):
        return create_agent(names[role], role=role, seed=scenario.seed)

    fast = play_episodes(scenarios, build, keep_turns=True)
    slow = play_episodes(scenarios, lambda role, s: ThroughToolCalls(build(role, s)), keep_turns=True)
    assert [e.as_record() for e in fast] == [e.as_record() for e in slow]
    assert {turn["move_type"] for e in fast for turn in e.as_record()["turns"]} == {"ToolCall"}


def test_the_event_log_is_one_list_that_grows_with_the_game():
    scenario = ScenarioSampler(SamplerConfig(max_rounds=2)).sample(1, seed=2)[0]
    game = Negotiation(scenario)
    log = game.events
    game.step(game.turn, Action("make_offer", 10.0))
    game.step(game.turn, Action("bogus"))
    assert game.events is log and [(e.index, e.kind, e.public) for e in log] == [
        (0, "make_offer", True),
        (1, "violation", False),
    ]
