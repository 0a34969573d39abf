"""Haggle's negotiation environment: scenarios, the alternating-offers protocol, views, outcomes and metrics.

Pure Python (no torch, no network, no printing); randomness only from the seeds it is given.
"""

if __name__ != "haggle.env":  # the folder is installed as haggle.env only: one name, one copy of each module
    raise ModuleNotFoundError(f"{__name__!r} is not a package here: import haggle.env", name=__name__)


from haggle.env.actions import (
    ACTION_SPECS,
    DEFAULT_ACTIONS,
    Action,
    ActionError,
    ToolCall,
    Unparseable,
    tool_schemas,
)
from haggle.env.hotel_pricing import RoomBlockSpec, draw_room_block
from haggle.env.negotiation import Event, Negotiation, ProtocolRules, StepResult
from haggle.env.outcome import Outcome
from haggle.env.scenario import (
    ROLES,
    ROOM_BLOCK_TIER,
    VALUE_MODELS,
    Role,
    SamplerConfig,
    Scenario,
    ScenarioSampler,
    other_role,
    room_block_prior,
    room_block_spec,
)
from haggle.env.views import Offer, PublicEvent, View

__all__ = [
    "ACTION_SPECS",
    "DEFAULT_ACTIONS",
    "ROLES",
    "ROOM_BLOCK_TIER",
    "VALUE_MODELS",
    "Action",
    "ActionError",
    "Event",
    "Negotiation",
    "Offer",
    "Outcome",
    "ProtocolRules",
    "PublicEvent",
    "Role",
    "RoomBlockSpec",
    "SamplerConfig",
    "Scenario",
    "ScenarioSampler",
    "StepResult",
    "ToolCall",
    "Unparseable",
    "View",
    "draw_room_block",
    "other_role",
    "room_block_prior",
    "room_block_spec",
    "tool_schemas",
]
