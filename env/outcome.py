"""Outcomes of one negotiation and the per-episode metrics derived from them (pure functions, no I/O)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from haggle.env.scenario import Role, Scenario

EndReason = Literal["accepted", "walked_away", "round_limit", "forfeit", "sealed_bid"]


@dataclass(frozen=True)
class Outcome:
    deal: bool
    price: float | None
    rounds: int
    turns: int
    end_reason: EndReason
    ended_by: Role | None  # who accepted, walked away or forfeited
    buyer_value: float
    seller_cost: float
    discount_factor: float  # δ^(rounds-1) applied to both surpluses when a deal closes
    violations: dict[str, int] = field(default_factory=dict)
    offers: dict[str, list[float]] = field(default_factory=dict)  # each side's offers in order

    # -- gains and surplus -------------------------------------------------------------------------------
    @property
    def available_gains(self) -> float:
        return max(self.buyer_value - self.seller_cost, 0.0)

    @property
    def realised_gains(self) -> float:
        """v - c when the item changes hands (negative for a trade that should not happen), else 0."""
        return self.buyer_value - self.seller_cost if self.deal else 0.0

    @property
    def buyer_surplus(self) -> float:
        return self.buyer_value - self.price if self.deal and self.price is not None else 0.0

    @property
    def seller_surplus(self) -> float:
        return self.price - self.seller_cost if self.deal and self.price is not None else 0.0

    def surplus(self, role: Role) -> float:
        """Undiscounted: the money `role` made at the price (the GRPO reward applies the discount itself)."""
        return self.buyer_surplus if role == "buyer" else self.seller_surplus

    @property
    def discounted_gains(self) -> float:
        """Realised gains worth δ^(rounds-1) of their face value, as the prompts tell both sides."""
        return self.realised_gains * self.discount_factor

    def surplus_share(self, role: Role) -> float | None:
        """Share of the available gains that `role` captured, discounted by δ^(rounds-1) like the prompts and the
        GRPO reward; 0 without a deal; None when there were no gains."""
        if self.available_gains <= 0:
            return None
        return self.surplus(role) * self.discount_factor / self.available_gains

    @property
    def efficiency(self) -> float | None:
        """Discounted realised over available gains; None when no trade was worthwhile."""
        return self.discounted_gains / self.available_gains if self.available_gains > 0 else None

    # -- rationality -------------------------------------------------------------------------------------
    @property
    def irrational_side(self) -> Role | None:
        """The side that traded at a loss (buyer paid above v, seller sold below c), if any."""
        if not self.deal or self.price is None:
            return None
        if self.price > self.buyer_value:
            return "buyer"
        if self.price < self.seller_cost:
            return "seller"
        return None

    @property
    def irrational_deal_induced(self) -> bool | None:
        """Whether the losing side accepted the other side's offer (the other side induced the loss)."""
        side = self.irrational_side
        if side is None:
            return None
        return self.ended("accepted", by=side)

    def ended(self, reason: EndReason, by: Role) -> bool:
        """Whether `by` ended the game this way: accepted, walked away or forfeited (its own doing, not the other's)."""
        return self.end_reason == reason and self.ended_by == by

    def to_dict(self) -> dict[str, Any]:
        """Stored fields plus the derived metrics, for JSON lines and reports."""
        data = asdict(self)
        data.update(
            available_gains=self.available_gains,
            realised_gains=self.realised_gains,
            discounted_gains=self.discounted_gains,
            buyer_surplus=self.buyer_surplus,
            seller_surplus=self.seller_surplus,
            buyer_surplus_share=self.surplus_share("buyer"),
            seller_surplus_share=self.surplus_share("seller"),
            efficiency=self.efficiency,
            irrational_side=self.irrational_side,
            irrational_deal_induced=self.irrational_deal_induced,
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


def first_offer_ratio(outcome: Outcome, role: Role) -> float | None:
    """First offer over the agent's own value: anchoring (a buyer far below 1, a seller far above 1 is aggressive)."""
    offers = outcome.offers.get(role) or []
    own = outcome.buyer_value if role == "buyer" else outcome.seller_cost
    return offers[0] / own if offers and own > 0 else None


def concession_per_offer(outcome: Outcome, role: Role) -> float | None:
    """Mean move towards the other side between successive own offers, as a fraction of the own value."""
    offers = outcome.offers.get(role) or []
    own = outcome.buyer_value if role == "buyer" else outcome.seller_cost
    if len(offers) < 2 or own <= 0:
        return None
    direction = 1.0 if role == "buyer" else -1.0  # buyers concede upwards, sellers downwards
    return direction * (offers[-1] - offers[0]) / own / (len(offers) - 1)


def prior_width(low: float, high: float) -> float:
    """The public prior's width: the unit that puts tiers of any scale on one footing. A point prior keeps the
    money's own unit (width 1) rather than dividing by zero."""
    return high - low or 1.0


def prior_position(amount: float, low: float, high: float) -> float:
    """Where `amount` sits on the public prior [low, high] rescaled to [0, 1]."""
    return (amount - low) / prior_width(low, high)


def normalised_gains(outcome: Outcome, scenario: Scenario) -> tuple[float, float]:
    """(realised, available) gains in units of the prior's width, so that tiers of any scale can be pooled; realised
    gains are discounted by δ^(rounds-1)."""
    width = prior_width(scenario.value_low, scenario.value_high)
    return outcome.discounted_gains / width, outcome.available_gains / width


def normalised_surplus(outcome: Outcome, scenario: Scenario, role: Role) -> tuple[float, float]:
    """(`role`'s discounted surplus, available gains) in prior widths: summed over episodes, their ratio is the
    side's share of the gains from trade there were (a loss counts, no deal is 0)."""
    width = prior_width(scenario.value_low, scenario.value_high)
    return outcome.surplus(role) * outcome.discount_factor / width, outcome.available_gains / width
