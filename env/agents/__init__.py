"""Negotiating agents: one async interface for scripted strategies and LLMs, and a registry by name."""

from haggle.env.agents.base import AGENT_REGISTRY, Agent, AgentTurn, create_agent, register_agent

__all__ = ["AGENT_REGISTRY", "Agent", "AgentTurn", "create_agent", "register_agent"]
