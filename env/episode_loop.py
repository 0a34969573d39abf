"""Playing episodes: the one loop every consumer uses (simulate, tournaments, evals, experiments)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from haggle.env.agents.base import Agent, AgentTurn
from haggle.env.negotiation import Negotiation, ProtocolRules
from haggle.env.outcome import Outcome
from haggle.env.scenario import Role, Scenario

AgentBuilder = Callable[[Role, Scenario], Agent]


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
    # Scripted agents answer at once: call `decide` directly and skip the coroutine (the simulate hot path).
    immediate = {
        role: agent.decide if type(agent).act is Agent.act else None for role, agent in agents.items()
    }
    while negotiation.outcome is None:
        role = negotiation.turn
        decide = immediate[role]
        if decide and not keep_turns:
            negotiation.step(role, decide(negotiation.view(role)))
            continue
        turn = (
            AgentTurn(decide(negotiation.view(role)))
            if decide
            else await agents[role].act(negotiation.view(role))
        )
        if keep_turns:
            episode.turns.append((role, turn))
        negotiation.step(role, turn.move)
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
