"""Haggle's negotiation environment: scenarios, the alternating-offers protocol, views, outcomes and metrics.

Pure Python (no torch, no network, no printing); randomness only from the seeds it is given.
"""

from env.actions import (
    ACTION_SPECS,
    DEFAULT_ACTIONS,
    Action,
    ActionError,
    ToolCall,
    Unparseable,
    tool_schemas,
)
from env.negotiation import Event, Negotiation, ProtocolRules, StepResult
from env.outcome import Outcome
from env.scenario import ROLES, Role, SamplerConfig, Scenario, ScenarioSampler, other_role
from env.views import Offer, PublicEvent, View

__all__ = [
    "ACTION_SPECS",
    "DEFAULT_ACTIONS",
    "ROLES",
    "Action",
    "ActionError",
    "Event",
    "Negotiation",
    "Offer",
    "Outcome",
    "ProtocolRules",
    "PublicEvent",
    "Role",
    "SamplerConfig",
    "Scenario",
    "ScenarioSampler",
    "StepResult",
    "ToolCall",
    "Unparseable",
    "View",
    "other_role",
    "tool_schemas",
]
