"""data.transcript.scripted_transcripts: both sides' chats of a scripted game, as the tiny model's corpus, GRPO's
token budget and the SFT fixtures build them."""

import pytest
from haggle.data.transcript import scripted_transcripts
from haggle.env.actions import Unparseable
from haggle.env.agents.base import Agent, create_agent
from haggle.env.scenario import ROLES, SamplerConfig, ScenarioSampler

SCENARIO = ScenarioSampler(SamplerConfig(tiers=[1_000])).sample(1, seed=3)[0]
fmt = SCENARIO.domain.format_price


def test_each_side_holds_its_own_chat_with_the_words_given_and_reads_only_its_own_value():
    agents = {role: create_agent("boulware", role=role, seed=0) for role in ROLES}
    chats = scripted_transcripts(SCENARIO, agents, content="Here is my offer.")
    assert set(chats) == set(ROLES)
    own = {"buyer": SCENARIO.buyer_value, "seller": SCENARIO.seller_cost}
    for role, chat in chats.items():
        assert chat[0]["role"] == "system" and fmt(own[role]) in chat[0]["content"]
        other = own["seller" if role == "buyer" else "buyer"]
        assert all(fmt(other) not in message["content"] for message in chat[:2])  # offers may reveal it later
        moves = [message for message in chat if message["role"] == "assistant"]
        assert moves and all(m["content"] == "Here is my offer." and len(m["tool_calls"]) == 1 for m in moves)
    buyer_moves = sum(m["role"] == "assistant" for m in chats["buyer"])
    seller_moves = sum(m["role"] == "assistant" for m in chats["seller"])
    assert abs(buyer_moves - seller_moves) <= 1  # the sides alternate


class Garbler(Agent):
    def decide(self, view):
        return Unparseable("no tool call")


def test_an_agent_without_a_tool_call_is_refused():
    agents = {"buyer": Garbler("buyer"), "seller": create_agent("linear", role="seller", seed=0)}
    with pytest.raises(TypeError, match="needs tool calls"):
        scripted_transcripts(SCENARIO, agents)
