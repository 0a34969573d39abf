"""What one side may see: its own role and private value, the public framing and the public history.

A view is built only from the scenario's public fields, the acting side's own private value and public events;
the other side's private value is never an input, which is what the non-interference test checks. Nothing in a
view is state the engine plays by: events and offers are named tuples, the history a tuple and the context a
read-only mapping, so an in-process agent cannot change what the other side reads or what binds (the one engine
object it holds is its own side's `reply`, which the rules never read).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from haggle.env.catalogue import Item
from haggle.env.domains import Domain
from haggle.env.scenario import Role


class Offer(NamedTuple):
    """Immutable (and a named tuple rather than a frozen dataclass: one is built per offer, on the hot path)."""

    by: Role
    price: float
    round: int


class PublicEvent(NamedTuple):
    """An event both sides saw: an offer, a message, a rejection, a disclosure, a walk-away or the deal.
    Immutable, and shared by both sides' views; a named tuple because one is built per move."""

    round: int
    actor: Role
    action: str
    price: float | None = None
    message: str | None = None


@dataclass(slots=True)
class StepResult:
    """The engine's answer to one move. Its `feedback` (also the acting side's next `View.last_feedback`) is
    written on first read: formatting a price costs as much as the rest of a move, and scripted play never reads
    it."""

    ok: bool
    _text: str  # the feedback, or its template with "{}" for the price when `_price` is set
    done: bool
    terminated: bool = False  # the game ended by a move (deal, walk-away, forfeit)
    truncated: bool = False  # the game ran into the round limit
    _price: float | None = None
    _format_price: Callable[[float], str] | None = None

    @property
    def feedback(self) -> str:
        """What the acting agent reads back (tool result or error)."""
        if self._price is not None and self._format_price is not None:
            self._text, self._price = self._text.format(self._format_price(self._price)), None
        return self._text


@dataclass(slots=True)
class View:
    """Built afresh for every turn and never reused, so plain slots (frozen would double the cost of the hot path):
    changing one's own view changes nothing else, and every field it shares with the engine but its own `reply`
    is immutable."""

    role: Role
    private_value: float
    domain: Domain
    item: Item
    price_tier: str
    value_low: float
    value_high: float
    round: int
    max_rounds: int
    discount: float
    is_my_turn: bool
    turns_left: int  # own turns left including this one
    history: tuple[PublicEvent, ...]
    standing_offer: Offer | None  # the other side's offer on the table, which `accept_offer` would close
    my_offer: Offer | None  # own latest offer still on the table
    allowed_actions: tuple[str, ...]
    violations: int
    max_violations: int
    max_price: float
    last_error: str | None = None  # why this side's previous move was refused, if it was
    reply: StepResult | None = None  # the engine's answer to this side's previous move (read `last_feedback`)
    done: bool = False
    context: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def last_feedback(self) -> str | None:
        """The engine's reply to this side's previous move, as text; written only when read."""
        return None if self.reply is None else self.reply.feedback

    @property
    def other_role(self) -> Role:
        return "seller" if self.role == "buyer" else "buyer"

    def offers_by(self, role: Role) -> list[float]:
        return [
            event.price
            for event in self.history
            if event.actor == role and event.action == "make_offer" and event.price is not None
        ]


EMPTY_CONTEXT: Mapping[str, Any] = MappingProxyType({})


def read_only(value: Any) -> Any:
    """A deep read-only copy of JSON-like data (dicts become mapping proxies, lists tuples): a scenario's context
    is frozen once per episode and then shared by every view of it."""
    if isinstance(value, Mapping):
        if not value:
            return EMPTY_CONTEXT  # most scenarios have no context: one object for all of them
        return MappingProxyType({key: read_only(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(read_only(item) for item in value)
    return value
