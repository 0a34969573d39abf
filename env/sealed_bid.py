"""The one-shot sealed-bid mode: the k-double auction (Chatterjee and Samuelson, 1983).

Both sides submit a price at once; the item trades iff the buyer's bid b is at least the seller's ask s, at
k·b + (1 - k)·s. Bidders see the same views as in the alternating protocol (own value, public prior).
"""

from __future__ import annotations

from dataclasses import dataclass

from haggle.env.outcome import Outcome, prior_position
from haggle.env.scenario import Role, Scenario


def k_double_auction(scenario: Scenario, bid: float, ask: float, k: float = 0.5) -> Outcome:
    if not 0 <= k <= 1:
        raise ValueError("k must be in [0, 1]")
    deal = bid >= ask
    return Outcome(
        deal=deal,
        price=round(k * bid + (1 - k) * ask, 2) if deal else None,
        rounds=1,
        turns=2,
        end_reason="sealed_bid",
        ended_by=None,
        buyer_value=scenario.buyer_value,
        seller_cost=scenario.seller_cost,
        discount_factor=1.0,
        offers={"buyer": [bid], "seller": [ask]},
    )


def linear_equilibrium_bid(role: Role, value: float, low: float, high: float, k: float = 0.5) -> float:
    """Chatterjee–Samuelson linear equilibrium strategy for values uniform on [low, high].

    On [0, 1]: the buyer bids v/(1+k) + k(1-k)/(2(1+k)), the seller asks c/(2-k) + (1-k)/2; rescaled to [low, high].
    """
    x = prior_position(value, low, high)
    unit = x / (1 + k) + k * (1 - k) / (2 * (1 + k)) if role == "buyer" else x / (2 - k) + (1 - k) / 2
    return low + unit * (high - low)


@dataclass(frozen=True)
class LinearEquilibriumBidder:
    role: Role
    k: float = 0.5

    def bid(self, value: float, low: float, high: float) -> float:
        return linear_equilibrium_bid(self.role, value, low, high, self.k)


@dataclass(frozen=True)
class TruthfulBidder:
    role: Role

    def bid(self, value: float, low: float, high: float) -> float:
        return value


def play_sealed_bid(
    scenario: Scenario,
    buyer: LinearEquilibriumBidder | TruthfulBidder,
    seller: LinearEquilibriumBidder | TruthfulBidder,
    k: float = 0.5,
) -> Outcome:
    """Each bidder sees only its own value and the public prior."""
    low, high = scenario.value_low, scenario.value_high
    bid = buyer.bid(scenario.buyer_value, low, high)
    ask = seller.bid(scenario.seller_cost, low, high)
    return k_double_auction(scenario, bid, ask, k)
