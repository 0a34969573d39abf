"""The agent interface every negotiator implements, scripted or LLM: a view in, a move out.

`act` is async so that LLM agents can await endpoints while many negotiations run concurrently; scripted agents
answer at once through `decide`. Agents are built per episode and role by `create_agent(name, role=, seed=, ...)`
so that randomised strategies are deterministic given the episode's seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from haggle.env.actions import Move
from haggle.env.scenario import Role
from haggle.env.views import View


@dataclass
class AgentTurn:
    """A move plus what produced it: stored in the episode's transcript, never shown to the other side."""

    move: Move
    reasoning: str | None = None  # e.g. a model's <think> block
    raw_output: str | None = None  # the model's full reply
    usage: dict[str, Any] = field(default_factory=dict)  # tokens, cost, latency


class Agent:
    name: str = "agent"
    version: str = "1"

    def __init__(self, role: Role, seed: int = 0) -> None:
        self.role = role
        self.seed = seed

    async def act(self, view: View) -> AgentTurn:
        return AgentTurn(self.decide(view))

    def decide(self, view: View) -> Move:
        raise NotImplementedError(f"{type(self).__name__} must implement decide() or act()")

    async def aclose(self) -> None:
        """Release connections or models; called once the episode is over."""


AgentFactory = Callable[..., Agent]
AGENT_REGISTRY: dict[str, AgentFactory] = {}


def register_agent(name: str) -> Callable[[AgentFactory], AgentFactory]:
    def decorator(factory: AgentFactory) -> AgentFactory:
        if name in AGENT_REGISTRY:
            raise ValueError(f"agent {name!r} is registered twice")
        AGENT_REGISTRY[name] = factory
        return factory

    return decorator


def create_agent(name: str, *, role: Role, seed: int = 0, **params: Any) -> Agent:
    """Build a registered agent; unknown names and parameters fail with the list of what exists. The scripted
    strategies are registered by the package (`env/agents/__init__.py`), which Python imports before this module."""
    if name not in AGENT_REGISTRY:
        raise ValueError(f"unknown agent {name!r}; registered agents: {', '.join(sorted(AGENT_REGISTRY))}")
    try:
        return AGENT_REGISTRY[name](role=role, seed=seed, **params)
    except TypeError as exc:
        raise ValueError(f"agent {name!r}: {exc}") from None
