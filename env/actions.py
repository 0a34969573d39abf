"""The negotiation actions, defined once.

Every consumer derives from `ACTION_SPECS`: the OpenAI-style tool schemas in prompts, the parser that validates
model output, the TRL tool methods used in GRPO and the SFT traces. Validation here is purely syntactic (names,
types, finiteness); the rules of the game (whose turn, which offer stands, price bounds) live in the engine.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

MAKE_OFFER = "make_offer"
ACCEPT_OFFER = "accept_offer"
REJECT_OFFER = "reject_offer"
SEND_MESSAGE = "send_message"
WALK_AWAY = "walk_away"
DISCLOSE_VALUE = "disclose_value"


@dataclass(frozen=True)
class ActionSpec:
    """One tool: its name, what it does (shown to models) and its JSON-schema arguments."""

    name: str
    description: str
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    required: tuple[str, ...] = ()

    def tool_schema(self) -> dict[str, Any]:
        """The OpenAI / Hugging Face `tools=` entry for this action, byte for byte what
        `transformers.utils.get_json_schema` derives from the matching TRL tool method (which leaves out `required`
        when no argument is required), so eval prompts, SFT traces and GRPO rollouts show the model one schema."""
        parameters: dict[str, Any] = {"type": "object", "properties": self.properties}
        if self.required:
            parameters["required"] = list(self.required)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": parameters},
        }


_MESSAGE = {"type": "string", "description": "Optional words to the other side. Never binding."}

ACTION_SPECS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec(
            MAKE_OFFER,
            "Propose a binding price for the item. If the other side accepts it, the deal closes at this price. "
            "A new offer replaces your previous one and rejects any offer the other side has on the table.",
            {
                "price": {
                    "type": "number",
                    "description": "The total price you offer, in the deal's currency.",
                },
                "message": _MESSAGE,
            },
            ("price",),
        ),
        ActionSpec(
            ACCEPT_OFFER,
            "Accept the other side's standing offer. The deal closes at that offer's price.",
        ),
        ActionSpec(
            REJECT_OFFER,
            "Reject the other side's standing offer without making a counteroffer.",
            {"message": _MESSAGE},
        ),
        ActionSpec(
            SEND_MESSAGE,
            "Send a free-text message. Messages never bind either side; only offers do.",
            {"text": {"type": "string", "description": "What you want to say."}},
            ("text",),
        ),
        ActionSpec(
            WALK_AWAY,
            "End the negotiation for good without a deal.",
        ),
        ActionSpec(
            DISCLOSE_VALUE,
            "State your reservation value to the other side. This is cheap talk: nothing checks or enforces it.",
            {
                "value": {"type": "number", "description": "The value you choose to state."},
                "message": _MESSAGE,
            },
            ("value",),
        ),
    )
}

# The protocol's default action set; `disclose_value` is opted into by the disclosure experiments.
DEFAULT_ACTIONS: tuple[str, ...] = (MAKE_OFFER, ACCEPT_OFFER, REJECT_OFFER, SEND_MESSAGE, WALK_AWAY)


def tool_schemas(actions: tuple[str, ...] = DEFAULT_ACTIONS) -> list[dict[str, Any]]:
    return [ACTION_SPECS[name].tool_schema() for name in actions]


@dataclass(slots=True)
class ToolCall:
    """A move as an agent expressed it: a tool name and its raw arguments (a dict or a JSON string)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)


@dataclass(slots=True)
class Unparseable:
    """Model output that held no tool call we could read; the engine turns it into a violation."""

    error: str


Move = ToolCall | Unparseable


@dataclass(slots=True)
class Action:
    """A syntactically valid action with typed arguments."""

    name: str
    price: float | None = None
    message: str | None = None

    def as_tool_call(self) -> ToolCall:
        arguments: dict[str, Any] = {}
        if self.name == MAKE_OFFER:
            arguments["price"] = self.price
        elif self.name == DISCLOSE_VALUE:
            arguments["value"] = self.price
        if self.message:
            arguments["text" if self.name == SEND_MESSAGE else "message"] = self.message
        return ToolCall(self.name, arguments)


class ActionError(ValueError):
    """A move that breaks the syntax of the tools; its message is written for the agent to read and fix."""


def _number(arguments: dict[str, Any], key: str) -> float:
    raw = arguments.get(key)
    if raw is None:
        raise ActionError(f"missing required argument '{key}' (a number)")
    if isinstance(raw, bool):
        raise ActionError(f"argument '{key}' must be a number, got a boolean")
    if isinstance(raw, str):
        written = raw
        try:
            raw = float(written.strip().replace(",", "").lstrip("$€£"))
        except ValueError:
            raise ActionError(f"argument '{key}' must be a number, got {written[:40]!r}") from None
    if not isinstance(raw, int | float):
        raise ActionError(f"argument '{key}' must be a number, got {type(raw).__name__}")
    value = float(raw)
    if not math.isfinite(value):
        raise ActionError(f"argument '{key}' must be a finite number")
    return value


def _text(arguments: dict[str, Any], key: str, *, required: bool) -> str | None:
    raw = arguments.get(key)
    if raw is None:
        if required:
            raise ActionError(f"missing required argument '{key}' (a string)")
        return None
    if not isinstance(raw, str):
        raise ActionError(f"argument '{key}' must be a string, got {type(raw).__name__}")
    return raw


def parse_action(call: ToolCall, allowed: tuple[str, ...] = DEFAULT_ACTIONS) -> Action:
    """Validate a tool call's name and arguments; raise `ActionError` with an agent-readable reason."""
    if call.name not in allowed:
        raise ActionError(f"unknown tool '{str(call.name)[:40]}'; available tools: {', '.join(allowed)}")
    arguments = call.arguments
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise ActionError(f"arguments of '{call.name}' are not valid JSON ({exc.msg})") from None
    if not isinstance(arguments, dict):
        raise ActionError(f"arguments of '{call.name}' must be a JSON object")
    spec = ACTION_SPECS[call.name]
    unknown = sorted(set(arguments) - set(spec.properties))
    if unknown:
        raise ActionError(f"'{call.name}' got unexpected argument(s): {', '.join(unknown)[:80]}")
    if call.name == MAKE_OFFER:
        return Action(
            MAKE_OFFER, price=_number(arguments, "price"), message=_text(arguments, "message", required=False)
        )
    if call.name == DISCLOSE_VALUE:
        return Action(
            DISCLOSE_VALUE,
            price=_number(arguments, "value"),
            message=_text(arguments, "message", required=False),
        )
    if call.name == SEND_MESSAGE:
        return Action(SEND_MESSAGE, message=_text(arguments, "text", required=True))
    if call.name == REJECT_OFFER:
        return Action(REJECT_OFFER, message=_text(arguments, "message", required=False))
    return Action(call.name)
