"""A scripted strategy behind a chat endpoint: reads the negotiation back from the chat, answers with a tool call.

The project's chat server (`data.chat_server`) plays a registered scripted strategy, so that tests and benchmarks
drive real HTTP endpoints with the real `openai` client and still get sensible negotiations. The policy sees only
what an LLM would see: the messages. It recovers its role, private value, the public prior, the round, the
standing offers and the offer history from the text `env.prompts` renders (and from its own earlier tool calls),
rebuilds a `View` and asks the strategy. It reads Haggle's own prompts; other prompts get a walk-away.
"""

from __future__ import annotations

import json
import re
from typing import Any

from haggle.env.actions import WALK_AWAY, ToolCall
from haggle.env.agents.base import create_agent
from haggle.env.catalogue import Item
from haggle.env.domains import builtin_domains
from haggle.env.scenario import Role, derive_seed
from haggle.env.views import Offer, PublicEvent, View

_PRICE = r"[^\d\s-]*(-?[\d,]+(?:\.\d+)?)"
_VALUE = re.compile(r"Your private (value|cost) for it is " + _PRICE)
_PRIOR = re.compile(r"both numbers lie between " + _PRICE + r" and " + _PRICE)
_MAX_TURNS = re.compile(r"each of you has at most (\d+) turns")
_SITUATION = re.compile(r"Round (\d+) of (\d+); you have (\d+) turn\(s\) left\.")
_STANDING = re.compile(r"'s offer of " + _PRICE + r" is on the table")
_OFFERED = re.compile(r"The [^.\n]*? offered " + _PRICE)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""


def _own_offers(messages: list[dict[str, Any]]) -> list[float]:
    offers = []
    for message in messages:
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            if function.get("name") != "make_offer":
                continue
            arguments = function.get("arguments")
            try:
                arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
                offers.append(float(arguments["price"]))
            except (ValueError, TypeError, KeyError):
                continue
    return offers


def view_from_messages(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> View | None:
    """The view a scripted agent needs, read from Haggle's prompts; None when the chat is not one of them."""
    system = next((_text(m) for m in messages if m.get("role") == "system"), "")
    latest = next((_text(m) for m in reversed(messages) if m.get("role") in ("user", "tool")), "")
    value, prior, turns, situation = (
        _VALUE.search(system),
        _PRIOR.search(system),
        _MAX_TURNS.search(system),
        _SITUATION.search(latest),
    )
    if not (value and prior and turns and situation):
        return None
    role: Role = "buyer" if value.group(1) == "value" else "seller"
    other: Role = "seller" if role == "buyer" else "buyer"
    theirs = [
        _number(match.group(1))
        for message in messages
        if message.get("role") in ("user", "tool")
        for match in _OFFERED.finditer(_text(message))
    ]
    mine = _own_offers(messages)
    history = tuple(PublicEvent(0, other, "make_offer", price) for price in theirs) + tuple(
        PublicEvent(0, role, "make_offer", price) for price in mine
    )
    standing = _STANDING.search(latest)
    low, high = _number(prior.group(1)), _number(prior.group(2))
    round_now, max_rounds, turns_left = (int(situation.group(i)) for i in (1, 2, 3))
    return View(
        role=role,
        private_value=_number(value.group(2)),
        domain=builtin_domains()["abstract"],
        item=Item("the item", "abstract", "", max(high, 0.01)),
        price_tier="",
        value_low=low,
        value_high=high,
        round=round_now,
        max_rounds=max_rounds,
        discount=1.0,
        is_my_turn=True,
        turns_left=turns_left,
        history=history,
        standing_offer=Offer(other, _number(standing.group(1)), round_now) if standing else None,
        my_offer=Offer(role, mine[-1], round_now) if mine else None,
        allowed_actions=tuple(tool["function"]["name"] for tool in tools),
        violations=0,
        max_violations=3,
        max_price=high * 100,
    )


def scripted_reply(
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    strategy: str,
    params: dict[str, Any],
    seed: int,
) -> ToolCall:
    """The strategy's move for this chat (a fresh agent per request, seeded by the conversation)."""
    view = view_from_messages(messages, tools)
    if view is None:
        return ToolCall(WALK_AWAY, {})
    system = next((_text(m) for m in messages if m.get("role") == "system"), "")
    agent = create_agent(strategy, role=view.role, seed=derive_seed(seed, system, len(messages)), **params)
    move = agent.decide(view)
    assert isinstance(move, ToolCall), "scripted strategies always return tool calls"
    return move
