"""Negotiating agents: one async interface for scripted strategies and LLMs, and a registry by name.

Importing any module of this package runs this file first, so the scripted strategies are always registered
before `create_agent` looks a name up (scripted imports base, never the other way round).
"""

from haggle.env.agents import scripted
from haggle.env.agents.base import AGENT_REGISTRY, Agent, AgentTurn, create_agent, register_agent

__all__ = ["AGENT_REGISTRY", "Agent", "AgentTurn", "create_agent", "register_agent", "scripted"]
