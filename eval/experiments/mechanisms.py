"""One-shot mechanisms run as "negotiators": the k-double auction and posted prices on the same scenarios.

Each mechanism maps a scenario to an `Outcome`, which is stored as an episode record in the run's episode store, so
mechanism rows and agent rows land in one table. Mechanisms see both private values only through the strategies
they model (an equilibrium bid is a function of one's own value and the public prior), never to choose a price.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from haggle.env.outcome import Outcome
from haggle.env.scenario import Role, Scenario, derive_seed
from haggle.env.sealed_bid import LinearEquilibriumBidder, TruthfulBidder, play_sealed_bid

MechanismFn = Callable[..., Outcome]
MECHANISMS: dict[str, MechanismFn] = {}


def register_mechanism(name: str) -> Callable[[MechanismFn], MechanismFn]:
    def decorator(function: MechanismFn) -> MechanismFn:
        if name in MECHANISMS:
            raise ValueError(f"mechanism {name!r} is registered twice")
        MECHANISMS[name] = function
        return function

    return decorator


@dataclass(frozen=True)
class MechanismSpec:
    """A row of the results table played by a mechanism: `name` labels the row, `mechanism` picks the rule."""

    name: str
    mechanism: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"unknown mechanism {self.mechanism!r}; known: {', '.join(sorted(MECHANISMS))}")

    def play(self, scenario: Scenario) -> Outcome:
        try:
            return MECHANISMS[self.mechanism](scenario, **self.params)
        except TypeError as error:
            raise ValueError(f"mechanism {self.name!r}: {error}") from None


@register_mechanism("k_double_auction")
def k_double_auction(scenario: Scenario, k: float = 0.5, bidders: str = "linear_equilibrium") -> Outcome:
    """Sealed bid and ask, trade at k·bid + (1-k)·ask; Chatterjee–Samuelson equilibrium or truthful bidding."""
    buyer: LinearEquilibriumBidder | TruthfulBidder
    seller: LinearEquilibriumBidder | TruthfulBidder
    if bidders == "linear_equilibrium":
        buyer, seller = LinearEquilibriumBidder("buyer", k), LinearEquilibriumBidder("seller", k)
    elif bidders == "truthful":
        buyer, seller = TruthfulBidder("buyer"), TruthfulBidder("seller")
    else:
        raise ValueError(f"bidders must be 'linear_equilibrium' or 'truthful', got {bidders!r}")
    return play_sealed_bid(scenario, buyer, seller, k)


def take_it_or_leave_it(scenario: Scenario, proposer: Role, price: float) -> Outcome:
    """`proposer` posts `price`; the other side takes it iff it is no loss (its dominant strategy)."""
    responder: Role = "seller" if proposer == "buyer" else "buyer"
    price = round(price, 2)
    deal = price <= scenario.buyer_value if responder == "buyer" else price >= scenario.seller_cost
    return _one_shot_outcome(
        scenario, deal, price, "accepted" if deal else "walked_away", responder, proposer
    )


@register_mechanism("posted_price")
def posted_price(
    scenario: Scenario, rule: str = "midpoint", context_key: str | None = None, discount: float = 0.0
) -> Outcome:
    """Posted-price rules; the first three are built for the uniform public prior [L, H].

    midpoint: one price (L + H) / 2 fixed in advance, trade iff both accept (the best single posted price, 3/4 of
    the first-best on U[0,1]²). seller_monopoly / buyer_monopoly: that side posts its monopoly price, (H + c) / 2
    or (v + L) / 2. random_proposer: a fair coin (seeded by the scenario) picks who posts. from_context: the price
    is a public fact of the deal, `scenario.context[context_key]` (the hotel's naive rate-card quote for the
    block), less `discount` (a group rate off the card), and trade happens iff both accept it.
    """
    low, high = scenario.value_low, scenario.value_high
    if (rule == "from_context") != (context_key is not None):
        raise ValueError("context_key goes with rule 'from_context', and only with it")
    if not 0 <= discount < 1 or (discount and rule != "from_context"):
        raise ValueError("discount is a share in [0, 1) off a 'from_context' price")
    if rule in ("midpoint", "from_context"):
        quoted = (low + high) / 2 if context_key is None else _context_price(scenario, context_key)
        price = round(quoted * (1 - discount), 2)
        deal = scenario.seller_cost <= price <= scenario.buyer_value
        return _one_shot_outcome(scenario, deal, price, "sealed_bid", None, None)
    if rule == "random_proposer":
        rule = random.Random(derive_seed("proposer", scenario.seed)).choice(
            ["seller_monopoly", "buyer_monopoly"]
        )
    if rule == "seller_monopoly":
        return take_it_or_leave_it(scenario, "seller", (high + scenario.seller_cost) / 2)
    if rule == "buyer_monopoly":
        return take_it_or_leave_it(scenario, "buyer", (low + scenario.buyer_value) / 2)
    raise ValueError(
        f"unknown posted-price rule {rule!r}; known: midpoint, seller_monopoly, buyer_monopoly, random_proposer, "
        "from_context"
    )


def _context_price(scenario: Scenario, key: str) -> float:
    price = scenario.context.get(key)
    if not isinstance(price, int | float) or isinstance(price, bool):
        raise ValueError(
            f"scenario {scenario.scenario_id} has no numeric public fact {key!r} to post as a price "
            f"(its context holds: {', '.join(scenario.context) or 'nothing'})"
        )
    return float(price)


def _one_shot_outcome(
    scenario: Scenario, deal: bool, price: float, reason: Any, ended_by: Role | None, proposer: Role | None
) -> Outcome:
    offers: dict[str, list[float]] = (
        {proposer: [price]} if proposer else {"buyer": [price], "seller": [price]}
    )
    return Outcome(
        deal=deal,
        price=price if deal else None,
        rounds=1,
        turns=2 if proposer else 1,
        end_reason=reason,
        ended_by=ended_by,
        buyer_value=scenario.buyer_value,
        seller_cost=scenario.seller_cost,
        discount_factor=1.0,
        offers=offers,
    )
