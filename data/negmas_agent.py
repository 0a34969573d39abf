"""NegMAS SAO negotiators as Haggle agents, on the protocol's one issue: the price.

    opponents:
      - {name: negmas-boulware, strategy: negmas, params: {negotiator: BoulwareTBNegotiator}}
      - {name: negmas-micro, strategy: negmas, params: {negotiator: MiCRONegotiator, price_levels: 51}}

NegMAS is AGPL-licensed, so it stays out of the core install (`pip install haggle[negmas]`) and is imported only
when such an agent is built; registering the `negmas` strategy costs nothing.

Each agent runs its negotiator inside a private `SAOMechanism` that shadows the Haggle episode: the price issue is a
grid of `price_levels` prices over the scenario's public prior, the agent's utility is its gain against its own
private value (reserved value 0: no deal beats a loss), and the other side is a proxy that replays the other
side's Haggle moves, so NegMAS's own clock, acceptance and offer rules run unchanged. Two conventions differ and are
set so that one NegMAS step is one Haggle turn:
- `one_offer_per_step=True` with `n_steps = 2 * max_rounds`: a NegMAS step is otherwise a full round (both move);
- `end_on_no_response=False`: a NegMAS reject without a counter-offer ends the negotiation by default, while a
  Haggle `reject_offer` passes the turn. A negotiator that rejects without an offer sends `reject_offer` here
  (or, with no offer on the table to reject, a message that passes the turn).
The other side's prices are snapped to the nearest grid price before the negotiator sees them; an acceptance
accepts the actual price on the table, and only when it is no loss to this side.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from haggle.env.actions import ACCEPT_OFFER, MAKE_OFFER, REJECT_OFFER, SEND_MESSAGE, WALK_AWAY, Move, ToolCall
from haggle.env.agents.base import Agent, register_agent
from haggle.env.scenario import ROLES, Role, Scenario
from haggle.env.views import View

NEGMAS_EXTRA = "NegMAS agents need the optional extra: pip install 'haggle[negmas]' (NegMAS is AGPL-3.0)"
DEFAULT_PRICE_LEVELS = 101


def negmas_version() -> str | None:
    """The installed NegMAS version, or None when the extra is not installed."""
    try:
        return version("negmas")
    except PackageNotFoundError:
        return None


def _negmas() -> Any:
    try:
        return import_module("negmas")
    except ImportError:
        raise ImportError(NEGMAS_EXTRA) from None


def price_grid(low: float, high: float, levels: int) -> list[float]:
    """`levels` prices from `low` to `high` inclusive, in cents."""
    return [round(low + (high - low) * index / (levels - 1), 2) for index in range(levels)]


def negotiator_class(name: str) -> type:
    """A negotiator class NegMAS exports by `name` (e.g. BoulwareTBNegotiator, MiCRONegotiator)."""
    negmas = _negmas()
    found = getattr(negmas, name, None)
    if not isinstance(found, type) or not issubclass(
        found, negmas.Negotiator
    ):  # SAO and GB ones both play SAO
        known = sorted(n for n in dir(negmas) if n.endswith("Negotiator"))
        raise ValueError(f"{name!r} is not a NegMAS negotiator; NegMAS exports {', '.join(known)}")
    return found


def price_utility(role: Role, private_value: float, outcome_space: Any) -> Any:
    """This side's gain at each price: value - price for the buyer, price - cost for the seller."""
    from negmas.preferences import LinearAdditiveUtilityFunction
    from negmas.preferences.value_fun import AffineFun

    slope, offset = (-1.0, private_value) if role == "buyer" else (1.0, -private_value)
    return LinearAdditiveUtilityFunction(
        values=[AffineFun(slope, offset)], outcome_space=outcome_space, reserved_value=0.0
    )


def protocol_mechanism(grid: list[float], max_rounds: int) -> Any:
    """An SAOMechanism on Haggle's terms: one step is one turn, a reject without an offer passes the turn."""
    negmas = _negmas()
    return negmas.SAOMechanism(
        issues=[negmas.make_issue(name="price", values=grid)],
        n_steps=2 * max_rounds,
        one_offer_per_step=True,
        end_on_no_response=False,
    )


@cache
def _replay_class() -> type:
    """A negotiator that plays, at each of its steps, the move Haggle's other side actually made."""
    from negmas.sao import ResponseType, SAONegotiator, SAOResponse

    class Replay(SAONegotiator):  # type: ignore[misc]
        next_offer: tuple[float, ...] | None = None

        def __call__(self, state: Any, dest: str | None = None) -> Any:
            return SAOResponse(ResponseType.REJECT_OFFER, self.next_offer)

        def propose(self, state: Any, dest: str | None = None) -> Any:  # never called: __call__ answers
            return self.next_offer

    return Replay


class NegmasAgent(Agent):
    """One NegMAS SAO negotiator playing one role of one Haggle episode (see the module docstring)."""

    name = "negmas"

    def __init__(
        self,
        role: Role,
        seed: int = 0,
        negotiator: str = "AspirationNegotiator",
        price_levels: int = DEFAULT_PRICE_LEVELS,
        negotiator_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(role, seed)
        if price_levels < 2:
            raise ValueError("price_levels must be at least 2")
        self.negotiator_class = negotiator_class(negotiator)
        self.negotiator_params = dict(negotiator_params or {})
        self.price_levels = price_levels
        self._mechanism: Any = None
        self._seen = 0  # history length when this agent last acted

    def _start(self, view: View) -> None:
        self.grid = price_grid(view.value_low, view.value_high, self.price_levels)
        self._mechanism = protocol_mechanism(self.grid, view.max_rounds)
        space = self._mechanism.outcome_space
        self._me = self.negotiator_class(name=self.role, **self.negotiator_params)
        self._other = _replay_class()(name=view.other_role)
        pair = [(self._me, price_utility(self.role, view.private_value, space))]
        pair.append((self._other, price_utility(view.other_role, view.private_value, space)))
        for negotiator, ufun in pair if not view.history else reversed(pair):  # the first added opens
            self._mechanism.add(negotiator, ufun=ufun)

    def _snap(self, price: float) -> tuple[float]:
        return (min(self.grid, key=lambda level: abs(level - price)),)

    def decide(self, view: View) -> Move:
        if self._mechanism is None:
            self._start(view)
            if view.history:  # the other side opened
                self._replay(view)
        else:
            self._replay(view)
        self._seen = len(view.history)
        self._mechanism.step()
        return self._my_move(view, self._mechanism.state)

    def _replay(self, view: View) -> None:
        """Step the other side's turn: its last offer since this agent's last move, or a pass."""
        prices = [
            event.price
            for event in view.history[self._seen :]
            if event.actor == view.other_role and event.action == MAKE_OFFER and event.price is not None
        ]
        self._other.next_offer = self._snap(prices[-1]) if prices else None
        self._mechanism.step()

    def _my_move(self, view: View, state: Any) -> Move:
        standing = view.standing_offer
        if state.agreement is not None and standing is not None:
            gain = (
                view.private_value - standing.price
                if self.role == "buyer"
                else standing.price - view.private_value
            )
            if self._snap(standing.price) == tuple(state.agreement) and gain >= 0:
                return ToolCall(ACCEPT_OFFER)
        offers = [offer for negotiator, offer in state.new_offers if negotiator == self._me.id]
        if offers and offers[-1] is not None:
            return ToolCall(MAKE_OFFER, {"price": float(offers[-1][0])})
        if state.broken:
            return ToolCall(WALK_AWAY)
        if standing is not None:
            return ToolCall(REJECT_OFFER)
        return ToolCall(SEND_MESSAGE, {"text": "I pass this turn."})  # nothing to reject: pass all the same


register_agent("negmas")(NegmasAgent)


def negmas_reference(
    scenario: Scenario, buyer: str, seller: str, price_levels: int = DEFAULT_PRICE_LEVELS
) -> tuple[float | None, int]:
    """The agreed price (None: no deal) and the steps NegMAS's own `SAOMechanism` takes between two negotiators
    on `scenario`'s values, grid and turn limit: what a Haggle episode between the same two must reproduce."""
    grid = price_grid(scenario.value_low, scenario.value_high, price_levels)
    mechanism = protocol_mechanism(grid, scenario.max_rounds)
    values: dict[Role, float] = {"buyer": scenario.buyer_value, "seller": scenario.seller_cost}
    classes = {"buyer": negotiator_class(buyer), "seller": negotiator_class(seller)}
    for role in sorted(ROLES, key=lambda role: role != scenario.first_mover):  # the first added opens
        mechanism.add(
            classes[role](name=role), ufun=price_utility(role, values[role], mechanism.outcome_space)
        )
    state = mechanism.run()
    return (None if state.agreement is None else float(state.agreement[0])), state.step
