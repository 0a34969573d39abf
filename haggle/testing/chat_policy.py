"""A scripted strategy behind a chat endpoint: replays the negotiation from the chat, answers with a tool call.

The test chat server (`haggle.testing.chat_server`) plays a registered scripted strategy, so that tests and
benchmarks drive real HTTP endpoints with the real `openai` client and still get the negotiations the in-process
strategy would play. The game state comes from structured data, never from the prompts' wording:

* the scenario and the side are the ones registered with the server (`ScenarioBook`) whose system prompt, as
  `env.prompts` renders it, opens the chat;
* the side's own moves are the tool calls in the chat (a reply without one was a violation);
* the other side's moves are the lines of the tool results that `env.prompts.describe_event` renders for some
  public event, found by rendering each kind of event and reading its price and message back.

Every move is replayed through the real engine (`env.negotiation`), which builds the strategy's `View`. Because
the prompts are rendered by the same functions, rewording them changes nothing here; a chat the server cannot
follow is refused with an error that says why, never answered with a walk-away.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from haggle.env import prompts
from haggle.env.actions import (
    ACCEPT_OFFER,
    DISCLOSE_VALUE,
    MAKE_OFFER,
    REJECT_OFFER,
    SEND_MESSAGE,
    WALK_AWAY,
    Action,
    ToolCall,
    Unparseable,
)
from haggle.env.agents import create_agent
from haggle.env.negotiation import Negotiation, ProtocolRules
from haggle.env.scenario import ROLES, Role, Scenario, derive_seed, other_role
from haggle.env.views import PublicEvent, View

Message = dict[str, Any]
_PRICE_PROBE = 123_456.78  # stand-ins rendered into an event to find where its price and message go
_MESSAGE_PROBE = "\x00message\x00"
# every public event a side can cause: (action, carries a price, may carry a message)
_EVENT_KINDS = (
    (MAKE_OFFER, True, True),
    (ACCEPT_OFFER, True, False),
    (REJECT_OFFER, False, True),
    (SEND_MESSAGE, False, True),
    (DISCLOSE_VALUE, True, True),
    (WALK_AWAY, False, False),
)


class UnfollowableChat(ValueError):
    """The chat is not a negotiation over a registered scenario, or does not match its replay."""


class ScenarioBook:
    """The scenarios a server may be asked to play, found by the system prompt each side of them reads."""

    def __init__(self, scenarios: Iterable[Scenario] = ()) -> None:
        self._by_prompt: dict[str, tuple[Scenario, Role]] = {}
        self.add(scenarios)

    def add(self, scenarios: Iterable[Scenario]) -> None:
        for scenario in scenarios:
            game = Negotiation(scenario)
            for role in ROLES:
                self._by_prompt.setdefault(prompts.system_prompt(game.view(role)), (scenario, role))

    def __len__(self) -> int:
        return len(self._by_prompt) // len(ROLES)

    def find(self, system: str) -> tuple[Scenario, Role]:
        """The scenario and side whose prompt `system` is, possibly followed by the agent's own instructions
        (`system_prompt`'s suffix, appended as further lines)."""
        head = system
        while head not in self._by_prompt:
            if "\n" not in head:
                raise UnfollowableChat(
                    f"no registered scenario opens with this system prompt ({len(self)} registered); register "
                    "the scenarios the server will be asked about (ChatServer(scenarios=...), or --scenarios)"
                )
            head = head.rpartition("\n")[0]
        return self._by_prompt[head]


def _text(message: Message) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""


def own_move(message: Message) -> ToolCall | Unparseable:
    """The move an assistant message made: its tool call, or a violation when it had none."""
    calls = message.get("tool_calls") or []
    if not calls:
        return Unparseable("no tool call in the reply")
    function = calls[0].get("function", {})
    return ToolCall(str(function.get("name")), function.get("arguments") or {})


def _read_holes(line: str, pieces: list[str]) -> list[str] | None:
    """The text `line` holds between the literal `pieces` of a template, or None where it does not fit."""
    if not (line.startswith(pieces[0]) and line.endswith(pieces[-1])):
        return None
    end, position, holes = len(line) - len(pieces[-1]), len(pieces[0]), []
    for literal in pieces[1:-1]:
        found = line.find(literal, position, end)
        if found < 0:
            return None
        holes.append(line[position:found])
        position = found + len(literal)
    return [*holes, line[position:end]] if position <= end else None


class EventReader:
    """Reads back the public events `describe_event` renders for one side, as that side's opponent sees them.

    Each kind of event is rendered once with stand-ins for its price and message; a line is read at their places
    and counts as that event only if the event renders to the very line. Rendered at run time, never hard-coded,
    so it follows whatever wording `env.prompts` has."""

    def __init__(self, view: View, actor: Role) -> None:
        self.view, self.actor = view, actor
        self.price_hole = view.domain.format_price(_PRICE_PROBE)
        self.templates: list[tuple[str, bool, list[str], list[str]]] = []
        for action, priced, talks in _EVENT_KINDS:
            for with_message in (False, True) if talks else (False,):
                probe = PublicEvent(
                    0,
                    actor,
                    action,
                    _PRICE_PROBE if priced else None,
                    _MESSAGE_PROBE if with_message else None,
                )
                template = prompts.describe_event(probe, view)
                holes = [
                    hole for hole, used in ((self.price_hole, priced), (_MESSAGE_PROBE, with_message)) if used
                ]
                holes.sort(key=template.index)
                pieces = [template]
                for hole in holes:
                    pieces[-1:] = pieces[-1].split(hole, 1)
                self.templates.append((action, priced, holes, pieces))

    def event(self, line: str) -> PublicEvent | None:
        for action, priced, holes, pieces in self.templates:
            found = _read_holes(line, pieces)
            if found is None:
                continue
            values = dict(zip(holes, found, strict=True))
            try:
                price = self._amount(values[self.price_hole]) if priced else None
            except ValueError:
                continue
            event = PublicEvent(0, self.actor, action, price, values.get(_MESSAGE_PROBE))
            if prompts.describe_event(event, self.view) == line:
                return event
        return None

    def _amount(self, text: str) -> float:
        """The inverse of `Domain.format_price` (symbol, thousands separators, two decimals)."""
        return float(text.removeprefix(self.view.domain.currency_symbol).replace(",", ""))


def _as_move(event: PublicEvent) -> ToolCall:
    return Action(event.action, event.price, event.message).as_tool_call()


def replay(messages: list[Message], tools: list[dict[str, Any]], book: ScenarioBook) -> View:
    """The view the side asking now holds, rebuilt by replaying the chat's moves through the engine."""
    system = next((_text(m) for m in messages if m.get("role") == "system"), "")
    scenario, role = book.find(system)
    actions = tuple(tool["function"]["name"] for tool in tools)
    game = Negotiation(scenario, ProtocolRules(actions=actions) if actions else None)
    other = other_role(role)
    reader = EventReader(game.view(role), other)
    latest = ""
    for message in messages:
        if message.get("role") == "assistant":
            game.step(role, own_move(message))
        elif message.get("role") in ("user", "tool"):
            latest = _text(message)
            for event in filter(None, map(reader.event, latest.splitlines())):
                game.step(other, _as_move(event))
    view = game.view(role)
    if not view.is_my_turn or not latest.endswith(prompts.situation(view)):
        raise UnfollowableChat(
            f"the replayed negotiation of scenario {scenario.scenario_id} ({role}) does not reach the state the "
            f"chat's last message describes; the replay has: {prompts.situation(view)!r}"
        )
    return view


def scripted_reply(
    messages: list[Message],
    tools: list[dict[str, Any]],
    book: ScenarioBook,
    strategy: str,
    params: dict[str, Any],
    seed: int,
) -> ToolCall:
    """The strategy's move for this chat (a fresh agent per request, seeded by the conversation)."""
    view = replay(messages, tools, book)
    system = next((_text(m) for m in messages if m.get("role") == "system"), "")
    agent = create_agent(strategy, role=view.role, seed=derive_seed(seed, system, len(messages)), **params)
    move = agent.decide(view)
    if not isinstance(move, ToolCall):
        raise TypeError(
            f"strategy {strategy!r} returned {move!r}; scripted strategies answer with tool calls"
        )
    return move
