"""What one side may see: its own role and private value, the public framing and the public history.

A view is built only from the scenario's public fields, the acting side's own private value and public events;
the other side's private value is never an input, which is what the non-interference test checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from haggle.env.catalogue import Item
from haggle.env.domains import Domain
from haggle.env.scenario import Role


@dataclass(frozen=True)
class Offer:
    by: Role
    price: float
    round: int


@dataclass(slots=True)
class PublicEvent:
    """An event both sides saw: an offer, a message, a rejection, a disclosure, a walk-away or the deal.
    Not frozen only because frozen dataclasses are slow to build and one is built per move."""

    round: int
    actor: Role
    action: str
    price: float | None = None
    message: str | None = None


@dataclass(slots=True)
class View:
    """Built afresh for every turn (so plain slots, not frozen: construction is on the hot path)."""

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
    last_feedback: str | None = None  # the engine's reply to this side's previous move (its StepResult's)
    done: bool = False
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def other_role(self) -> Role:
        return "seller" if self.role == "buyer" else "buyer"

    def offers_by(self, role: Role) -> list[float]:
        return [
            event.price
            for event in self.history
            if event.actor == role and event.action == "make_offer" and event.price is not None
        ]
