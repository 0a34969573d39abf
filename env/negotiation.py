"""The alternating-offers protocol: one agent acts at a time (PettingZoo's AEC shape), every move is logged.

Rules
- Turns alternate, starting with the scenario's first mover; a round is one turn of each side. Every valid action
  passes the turn; the game ends without a deal after `max_rounds` rounds (truncated, not terminated).
- Offers bind: `accept_offer` closes the deal at the other side's standing offer. A new offer replaces one's own
  previous offer and implicitly rejects the other side's. Messages never bind.
- A bad move (unknown tool, malformed or missing arguments, invalid price, accepting with no offer standing, acting
  out of turn, an over-long message) returns an error written for the agent, is logged as a violation and does
  not pass the turn. `max_violations` violations by one side end the episode as that side's forfeit (no deal).
Rules read only public facts (price bounds come from the public prior), never a private value.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from haggle.env.actions import (
    ACCEPT_OFFER,
    DEFAULT_ACTIONS,
    DISCLOSE_VALUE,
    MAKE_OFFER,
    REJECT_OFFER,
    SEND_MESSAGE,
    WALK_AWAY,
    Action,
    ActionError,
    Move,
    ToolCall,
    Unparseable,
    parse_action,
)
from haggle.env.config_loading import build, refuse_unknown
from haggle.env.outcome import EndReason, Outcome
from haggle.env.scenario import ROLES, Role, Scenario, other_role
from haggle.env.views import Offer, PublicEvent, StepResult, View, read_only


@dataclass(frozen=True)
class ProtocolRules:
    max_violations: int = 3
    max_message_chars: int = 2000
    max_price_factor: float = 100.0  # offers above this multiple of the prior's upper bound are absurd
    actions: tuple[str, ...] = DEFAULT_ACTIONS

    def __post_init__(self) -> None:
        if self.max_violations < 1:
            raise ValueError("max_violations must be at least 1")
        refuse_unknown(self.actions, (*DEFAULT_ACTIONS, DISCLOSE_VALUE), what="action", where="rules")

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any] | None) -> ProtocolRules:
        """From YAML or a stored record: unknown keys are refused, `actions` may be any sequence."""
        return build(cls, mapping, what="rule")


DEFAULT_RULES = ProtocolRules()  # built once: validating the rules costs as much as a few moves


def round_cents(amount: float) -> float:
    """Exactly `round(amount, 2)`, which formats the number as text (a few times the cost of a whole move): a
    positive amount well away from a half cent is its nearest whole number of cents, anything else is left to
    `round`."""
    scaled = amount * 100
    if 0 < scaled < 1e11:
        cents = round(scaled)
        if abs(scaled - cents) < 0.499:  # the float error of `scaled` is below 1e-4 cent here
            return cents / 100
    return round(amount, 2)


@dataclass(slots=True)
class Event:
    """One line of the episode log. `public` events are shown to both sides; violations only to the violator."""

    index: int
    round: int
    actor: Role | None  # None for the environment's own events (round limit)
    kind: str  # an action name, "violation", "deal", "no_deal" or "forfeit"
    payload: dict[str, Any] = field(default_factory=dict)
    public: bool = True


class Negotiation:
    """One episode of bilateral bargaining over `scenario`. Slots: no per-game attribute dict for the garbage
    collector to walk while thousands of finished games are kept."""

    __slots__ = (
        "scenario",
        "rules",
        "_entries",
        "_events",
        "turn",
        "turn_count",
        "standing_offer",
        "latest_offer",
        "violations",
        "last_error",
        "replies",
        "outcome",
        "public_history",
        "context",
        "offers_made",
        "max_price",
        "max_rounds",
        "round",
        "format_price",
    )

    def __init__(self, scenario: Scenario, rules: ProtocolRules | None = None) -> None:
        self.scenario = scenario
        self.rules = rules or DEFAULT_RULES
        # The log while playing, turned into `Event`s when read (`events`): a valid move's entry is its public
        # event (its payload is its price and message), anything else a tuple of the `Event` fields. An object
        # and a payload per move cost time, and every object the game keeps is one more for the garbage collector
        # to walk.
        self._entries: list[PublicEvent | tuple[int, Role | None, str, dict[str, Any], bool]] = []
        self._events: list[Event] = []
        self.turn: Role = scenario.first_mover
        self.turn_count = 0  # valid turns taken
        self.standing_offer: Offer | None = None
        self.latest_offer: dict[Role, Offer | None] = {"buyer": None, "seller": None}
        self.violations: dict[Role, int] = {"buyer": 0, "seller": 0}
        self.last_error: dict[Role, str | None] = {"buyer": None, "seller": None}
        self.replies: dict[Role, StepResult | None] = {"buyer": None, "seller": None}  # to the last moves
        self.outcome: Outcome | None = None
        # Views are built every turn, so what they show is kept ready: the public history as an immutable tuple
        # grown by one event per move (shared by every view, never copied), the context frozen once.
        self.public_history: tuple[PublicEvent, ...] = ()
        self.context = read_only(scenario.context)
        self.offers_made: dict[Role, list[float]] = {"buyer": [], "seller": []}
        self.max_price = scenario.value_high * self.rules.max_price_factor
        self.max_rounds = scenario.max_rounds
        self.round = 1  # the current round (never past max_rounds), advanced by `_pass_turn`
        self.format_price = scenario.domain.format_price

    # -- state -------------------------------------------------------------------------------------------
    @property
    def events(self) -> list[Event]:
        """The episode log, every move and violation in order (one list, extended as the game goes on)."""
        events, entries = self._events, self._entries
        for index in range(len(events), len(entries)):
            entry = entries[index]
            if isinstance(entry, PublicEvent):
                payload: dict[str, Any] = {} if entry.price is None else {"price": entry.price}
                if entry.message is not None:
                    payload["message"] = entry.message
                events.append(Event(index, entry.round, entry.actor, entry.action, payload))
            else:
                events.append(Event(index, *entry))
        return events

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def view(self, role: Role) -> View:
        scenario = self.scenario
        done = self.outcome is not None
        standing = self.standing_offer
        if standing is not None and standing.by == role:
            standing = None
        # Positional, in View's field order: with 23 keyword arguments this, the hottest call, is several times
        # slower. test_every_view_field_comes_from_its_own_source guards the order.
        return View(
            role,
            scenario.buyer_value if role == "buyer" else scenario.seller_cost,  # private_value
            scenario.domain,
            scenario.item,
            scenario.price_tier,
            scenario.value_low,
            scenario.value_high,
            self.round,
            self.max_rounds,
            scenario.discount,
            not done and self.turn == role,  # is_my_turn
            max(self.max_rounds - (self.turn_count + (role == scenario.first_mover)) // 2, 0),  # turns_left
            self.public_history,
            standing,
            self.latest_offer[role],  # my_offer
            self.rules.actions,
            self.violations[role],
            self.rules.max_violations,
            self.max_price,
            self.last_error[role],
            self.replies[role],
            done,
            self.context,
        )

    # -- moves -------------------------------------------------------------------------------------------
    def step(self, role: Role, move: Move | Action) -> StepResult:
        """Apply `role`'s move: what an agent produced (a tool call or unparseable output), or an `Action` a scripted
        agent built, which is the same move as its `as_tool_call()` without the parsing. Never raises for a bad
        move: it is returned as an error and logged. The result's feedback is also what `role`'s next view holds as
        `last_feedback`."""
        if role not in ROLES:
            raise ValueError(f"role must be 'buyer' or 'seller', got {role!r}")  # caller bug, not agent error
        if self.outcome is not None:
            result = StepResult(False, "The negotiation is over; no further moves are possible.", True)
        else:
            try:
                if role != self.turn:
                    raise ActionError(f"it is not your turn: wait for the {other_role(role)} to move")
                action = self._validated(move)
                self._check_rules(role, action.name, action.price, action.message)
            except ActionError as error:
                result = self._violation(role, move, str(error))
            else:
                self.last_error[role] = None
                result = self._apply(role, action.name, action.price, action.message)
        self.replies[role] = result
        return result

    def _validated(self, move: Move | Action) -> Action:
        """The action a move stands for. An `Action` is taken as is when parsing its tool call would give it back
        unchanged (an allowed name, a finite float price exactly where one is required, no message); any other
        move goes through `parse_action`, so that every move obeys the one syntax."""
        if isinstance(move, Action):
            name, price = move.name, move.price
            if (
                type(move) is Action
                and move.message is None
                and name in self.rules.actions
                and (
                    type(price) is float and math.isfinite(price)
                    if name in (MAKE_OFFER, DISCLOSE_VALUE)
                    else price is None and name != SEND_MESSAGE
                )
            ):
                return move
            move = move.as_tool_call()
        if isinstance(move, Unparseable):
            raise ActionError(move.error)
        return parse_action(move, self.rules.actions)

    def _check_rules(self, role: Role, name: str, price: float | None, message: str | None) -> None:
        if message is not None and len(message) > self.rules.max_message_chars:
            raise ActionError(
                f"message too long ({len(message)} characters; the limit is {self.rules.max_message_chars})"
            )
        if name == SEND_MESSAGE and not (message or "").strip():
            raise ActionError("send_message needs a non-empty 'text'")
        if name == MAKE_OFFER and price is not None:
            if price <= 0:
                raise ActionError("price must be a positive amount")
            if price > self.max_price:
                symbol = self.scenario.domain.currency_symbol
                raise ActionError(
                    f"price {symbol}{price:,.2f} is absurd for this item; offers must be at most "
                    f"{symbol}{self.max_price:,.2f}"
                )
        if name == DISCLOSE_VALUE and price is not None and price < 0:
            raise ActionError("a disclosed value cannot be negative")
        if name in (ACCEPT_OFFER, REJECT_OFFER) and (
            self.standing_offer is None or self.standing_offer.by == role
        ):
            raise ActionError(
                f"there is no offer from the {other_role(role)} to {name.split('_')[0]}; "
                "make an offer, send a message or walk away"
            )

    def _violation(self, role: Role, move: Move | Action, error: str) -> StepResult:
        self.violations[role] += 1
        self.last_error[role] = error
        if isinstance(move, Action):
            move = move.as_tool_call()  # logged as the tool call it stands for
        raw = (
            move.error if isinstance(move, Unparseable) else {"name": move.name, "arguments": move.arguments}
        )
        self._log(role, "violation", {"error": error, "move": raw}, public=False)
        left = self.rules.max_violations - self.violations[role]
        if left <= 0:
            self._log(role, "forfeit", {"violations": self.violations[role]})
            self._finish("forfeit", role, deal=False)
            return StepResult(
                False,
                f"Error: {error}. Too many invalid moves: you forfeit and the negotiation "
                "ends without a deal.",
                True,
                terminated=True,
            )
        if role != self.turn:
            return StepResult(False, f"Error: {error}.", False)
        return StepResult(
            False,
            f"Error: {error}. Your turn is not over: try again ({left} invalid move(s) "
            "left before you forfeit).",
            False,
        )

    def _apply(self, role: Role, name: str, price: float | None, message: str | None) -> StepResult:
        if price is not None:
            price = round_cents(price)
        if name == MAKE_OFFER and price is not None:  # the common move first: the hot path of scripted play
            self._log_move(role, name, price, message)
            offer = Offer(role, price, self.round)
            self.latest_offer[role] = self.standing_offer = offer
            self.offers_made[role].append(price)
            return self._pass_turn(role, "Your offer of {} is on the table.", price)
        if name == ACCEPT_OFFER:
            assert self.standing_offer is not None  # checked by _check_rules
            price = self.standing_offer.price
            self._log_move(role, name, price, message)
            self._finish("accepted", role, deal=True, price=price)
            return StepResult(True, "Deal closed at {}.", True, True, False, price, self.format_price)
        self._log_move(role, name, price, message)
        if name == WALK_AWAY:
            self._finish("walked_away", role, deal=False)
            return StepResult(
                True, "You walked away. The negotiation ended without a deal.", True, terminated=True
            )
        if name == REJECT_OFFER:
            self.standing_offer = None
            return self._pass_turn(role, f"You rejected the {other_role(role)}'s offer.")
        if name == DISCLOSE_VALUE:
            return self._pass_turn(role, f"You told the {other_role(role)} your value is {{}}.", price)
        return self._pass_turn(role, f"Message sent to the {other_role(role)}.")

    def _pass_turn(self, role: Role, feedback: str, price: float | None = None) -> StepResult:
        """End `role`'s turn; `feedback` is a template with "{}" for `price` when a price is given."""
        self.turn_count += 1
        if self.turn_count >= 2 * self.max_rounds:  # the last round stays the current one
            self._log(None, "no_deal", {"reason": "round_limit"})
            self._finish("round_limit", None, deal=False)
            return StepResult(
                True,
                f"{feedback} The round limit was reached: no deal.",
                True,
                False,
                True,
                price,
                self.format_price,
            )
        self.round = self.turn_count // 2 + 1
        self.turn = other_role(role)
        return StepResult(True, feedback, False, False, False, price, self.format_price)

    def _log_move(self, role: Role, name: str, price: float | None, message: str | None) -> None:
        """Log a valid move; its public event is its log entry."""
        event = PublicEvent(self.round, role, name, price, message or None)
        self.public_history += (event,)
        self._entries.append(event)

    def _log(self, actor: Role | None, kind: str, payload: dict[str, Any], public: bool = True) -> None:
        """Log what is not a valid move: violations, forfeits and the round limit."""
        current_round = self.round
        self._entries.append((current_round, actor, kind, payload, public))
        if public and actor is not None:
            self.public_history += (
                PublicEvent(current_round, actor, kind, payload.get("price"), payload.get("message")),
            )

    def _finish(self, reason: EndReason, by: Role | None, *, deal: bool, price: float | None = None) -> None:
        self.outcome = Outcome(
            deal=deal,
            price=price,
            rounds=self.round,
            turns=self.turn_count + (1 if reason in ("accepted", "walked_away") else 0),
            end_reason=reason,
            ended_by=by,
            buyer_value=self.scenario.buyer_value,
            seller_cost=self.scenario.seller_cost,
            discount_factor=self.scenario.discount ** (self.round - 1) if deal else 1.0,
            violations={role: count for role, count in self.violations.items()},
            offers={role: list(prices) for role, prices in self.offers_made.items()},
        )

    def as_record(self) -> dict[str, Any]:
        """The whole episode as JSON-ready data: scenario (with both private values), log and outcome."""
        return {
            "scenario": self.scenario.to_dict(),
            "events": [asdict(event) for event in self.events],
            "outcome": self.outcome.to_dict() if self.outcome else None,
        }


def offer_call(price: float, message: str | None = None) -> ToolCall:
    """Shorthand for scripted agents and tests."""
    return ToolCall(MAKE_OFFER, {"price": price} | ({"message": message} if message else {}))
