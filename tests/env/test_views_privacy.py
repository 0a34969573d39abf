"""No view, prompt or tool reply ever depends on the other side's private value (non-interference)."""

import asyncio
import dataclasses
import random

import pytest
from haggle.env.agents import create_agent
from haggle.env.negotiation import Negotiation
from haggle.env.prompts import opening, system_prompt, tool_reply
from haggle.env.scenario import SamplerConfig, ScenarioSampler, other_role
from hypothesis import given, settings
from hypothesis import strategies as st

STRATEGIES = ["boulware", "linear", "conceder", "tit_for_tat", "hardliner", "posted_price", "random"]
SAMPLER = ScenarioSampler(
    SamplerConfig(
        domains=["abstract", "marketplace", "hotel_b2b", "used_car", "freelance"],
        first_mover="random",
        no_zone_share=0.3,
    )
)
# room blocks carry public deal facts (rooms, nights, rack rate, the naive quote) in the context and a prior
# derived from them: none of it may move with a private value either
HOTEL = ScenarioSampler(
    SamplerConfig(value_model="hotel_room_block", domains=["hotel_b2b"], first_mover="random", max_rounds=6)
)


def rendered(view) -> str:
    return "\n".join([repr(view), system_prompt(view), opening(view), tool_reply(view, 0)])


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    strategies=st.tuples(st.sampled_from(STRATEGIES), st.sampled_from(STRATEGIES)),
    observer=st.sampled_from(["buyer", "seller"]),
    index=st.integers(0, 9),
    sampler=st.sampled_from([SAMPLER, HOTEL]),
)
def test_views_are_identical_whatever_the_other_private_value(seed, strategies, observer, index, sampler):
    """Replay one episode's moves on a twin scenario whose *other* private value differs: every view of the
    observer, and everything rendered from it (the tool replies with their `last_feedback` too), must be the
    same."""
    scenario = sampler.sample(index + 1, seed)[index]
    hidden = other_role(observer)
    field = "buyer_value" if hidden == "buyer" else "seller_cost"
    twin_value = round(random.Random(seed).uniform(scenario.value_low, scenario.value_high), 2) + 0.01
    twin = dataclasses.replace(scenario, **{field: twin_value})
    agents = {
        role: create_agent(name, role=role, seed=seed)
        for role, name in zip(("buyer", "seller"), strategies, strict=True)
    }
    game, game_twin = Negotiation(scenario), Negotiation(twin)
    while not game.done:
        assert rendered(game.view(observer)) == rendered(game_twin.view(observer))
        role = game.turn
        move = asyncio.run(agents[role].act(game.view(role))).move
        result, result_twin = game.step(role, move), game_twin.step(role, move)
        if role == observer:
            assert result.feedback == result_twin.feedback
            # the reply to the observer's move reaches its next view, and the tool reply rendered from it
            assert (
                game.view(observer).last_feedback == game_twin.view(observer).last_feedback == result.feedback
            )
            assert result.feedback in tool_reply(game.view(observer), 0)
    assert rendered(game.view(observer)) == rendered(game_twin.view(observer))


@pytest.mark.parametrize("sampler", [SAMPLER, HOTEL], ids=["tiers", "room_blocks"])
def test_prompts_show_own_value_and_not_the_others(sampler):
    for scenario in sampler.sample(50, seed=3):
        game = Negotiation(scenario)
        for role in ("buyer", "seller"):
            text = rendered(game.view(role))
            own, other = scenario.private_value(role), scenario.private_value(other_role(role))
            fmt = scenario.domain.format_price
            assert fmt(own) in text
            if other not in (scenario.value_low, scenario.value_high):
                assert fmt(other) not in text and repr(other) not in text
