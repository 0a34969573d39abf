"""Playing episodes: the one loop every consumer uses (simulate, tournaments, evals, experiments)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from haggle.env.actions import Action, Move
from haggle.env.agents.base import Agent, AgentTurn
from haggle.env.agents.scripted import ScriptedAgent
from haggle.env.negotiation import Negotiation, ProtocolRules
from haggle.env.outcome import Outcome
from haggle.env.scenario import Role, Scenario
from haggle.env.views import View

AgentBuilder = Callable[[Role, Scenario], Agent]


def immediate_answer(agent: Agent) -> Callable[[View], Move | Action] | None:
    """How to ask an agent that answers at once, skipping the coroutine (the simulate hot path): a scripted
    strategy's already valid `Action`, or `decide` of another agent that does not override `act`; None for an
    agent to await."""
    if type(agent).act is not Agent.act:
        return None
    if isinstance(agent, ScriptedAgent) and type(agent).decide is ScriptedAgent.decide:
        return agent.decide_action
    return agent.decide


@dataclass
class Episode:
    """A finished negotiation: the engine (scenario, event log, outcome) and each side's turns as produced."""

    negotiation: Negotiation
    turns: list[tuple[Role, AgentTurn]] = field(default_factory=list)

    @property
    def scenario(self) -> Scenario:
        return self.negotiation.scenario

    @property
    def outcome(self) -> Outcome:
        assert self.negotiation.outcome is not None
        return self.negotiation.outcome

    def as_record(self) -> dict[str, Any]:
        record = self.negotiation.as_record()
        record["turns"] = [
            {
                "role": role,
                "move": asdict(turn.move),
                "move_type": type(turn.move).__name__,
                "reasoning": turn.reasoning,
                "raw_output": turn.raw_output,
                "usage": turn.usage,
            }
            for role, turn in self.turns
        ]
        return record


async def play_episode(
    scenario: Scenario,
    buyer: Agent,
    seller: Agent,
    rules: ProtocolRules | None = None,
    *,
    keep_turns: bool = True,
) -> Episode:
    """Alternate the agents until the episode ends. Bad moves are the engine's business; agent exceptions
    (an endpoint that is down) propagate so that the caller can retry the episode instead of scoring it."""
    negotiation = Negotiation(scenario, rules)
    agents = {"buyer": buyer, "seller": seller}
    episode = Episode(negotiation)
    immediate = {role: immediate_answer(agent) for role, agent in agents.items()}
    while negotiation.outcome is None:
        role = negotiation.turn
        decide = immediate[role]
        if decide is None:
            turn = await agents[role].act(negotiation.view(role))
            move: Move | Action = turn.move
        else:
            move = decide(negotiation.view(role))
            if keep_turns:  # the transcript holds the tool call an `Action` stands for
                turn = AgentTurn(move.as_tool_call() if isinstance(move, Action) else move)
        if keep_turns:
            episode.turns.append((role, turn))
        negotiation.step(role, move)
    return episode


def play_episodes(
    scenarios: Iterable[Scenario],
    build: AgentBuilder,
    rules: ProtocolRules | None = None,
    *,
    keep_turns: bool = False,
    progress: Callable[[Episode], None] | None = None,
) -> list[Episode]:
    """Play scripted episodes one after another in a single event loop (the fast path of `haggle simulate`)."""

    async def run_all() -> list[Episode]:
        episodes = []
        for scenario in scenarios:
            episode = await play_episode(
                scenario, build("buyer", scenario), build("seller", scenario), rules, keep_turns=keep_turns
            )
            episodes.append(episode)
            if progress:
                progress(episode)
        return episodes

    return asyncio.run(run_all())
