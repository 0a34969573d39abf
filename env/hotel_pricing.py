"""The hotel room-block domain's economics: the hotel's opportunity cost and the tour operator's value, in EUR.

A hotel holds `rooms` unsold rooms for one stay (an arrival date and `nights` nights) and `periods` booking periods
before arrival. In each period at most one individual guest asks, with probability λ (`arrival_probability`); her
willingness to pay per room-night is exponential with mean θ (`rack_rate`, EUR per room-night), and she books iff
it covers the price p the hotel posts that period. An unsold room is worth `salvage` EUR per room-night at arrival.
The hotel's expected revenue V(n, t) with n rooms and t periods left solves the discrete-time dynamic program

    V(n, t) = max_p { λ(1-F(p)) [N p + V(n-1, t-1)] + (1 - λ(1-F(p))) V(n, t-1) },   1-F(p) = exp(-p/θ),
    V(0, t) = 0,   V(n, 0) = n N salvage,                                         (N = nights per stay)

the discrete-time counterpart of the HJB equation behind paper 000's costs (Gallego & van Ryzin 1994). Why the
exponential: with Δ = V(n, t-1) - V(n-1, t-1), the marginal value of a room, the first-order condition gives the
optimal price in closed form, p* = θ + Δ/N (the rack rate plus the room's opportunity cost per night), and
V(n, t) = V(n, t-1) + λ N θ exp(-1 - Δ/(Nθ)); no price search, no clamping, and the rack rate is the price the hotel
posts when rooms are plentiful and earn no salvage. With a `price_grid` the hotel picks the best grid price instead
(or closes sales). A sale per period is at most λ/e likely, so `RoomBlockSpec` cuts each day into several periods.

Selling a block of k rooms now at (n, t) forgoes V(n, t) - V(n-k, t): that is the hotel's reservation cost (its
private `seller_cost`). The tour operator's value (its private `buyer_value`) is k N × resale rate × (1 - share of
its other costs). `draw_room_block` draws both from a seeded `random.Random`; `posted_price_baseline` is the naive
rack-rate mechanism that negotiated outcomes are compared against.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class HotelMarket:
    """One stay's inventory and demand. Hashable, so solved value tables are cached per market."""

    rooms: int  # unsold rooms for the stay (inventory n)
    periods: int  # booking periods left before arrival (horizon T)
    arrival_probability: float  # λ: chance that one individual guest asks in a period
    rack_rate: float  # θ: guests' mean willingness to pay, EUR per room-night
    nights: int = 1  # N: room-nights per booking
    salvage: float = 0.0  # EUR per room-night an unsold room still earns at arrival
    price_grid: tuple[float, ...] = ()  # EUR per room-night the hotel may post; () = any price (closed form)

    def __post_init__(self) -> None:
        if self.rooms < 0 or self.periods < 0:
            raise ValueError("rooms and periods must be non-negative")
        if not 0 < self.arrival_probability <= 1:
            raise ValueError("arrival_probability must be in (0, 1]")
        if self.rack_rate <= 0 or self.nights < 1 or self.salvage < 0:
            raise ValueError("need rack_rate > 0, nights >= 1 and salvage >= 0")
        if any(price <= 0 for price in self.price_grid):
            raise ValueError("grid prices must be positive")

    def booking_probability(self, price: float) -> float:
        """λ(1 - F(p)): the chance that a room sells this period at posted price `price` per room-night."""
        return self.arrival_probability * math.exp(-price / self.rack_rate)


def _best_price_and_gain(market: HotelMarket, marginal_value: float) -> tuple[float, float]:
    """The price maximising λ(1-F(p))(N p - Δ), the gain of trying to sell now over keeping the room, and that gain.

    `math.inf` means closing sales (gain 0): the limit of ever higher prices, so always available.
    """
    if not market.price_grid:
        scale = market.nights * market.rack_rate
        gain = market.arrival_probability * scale * math.exp(-1.0 - marginal_value / scale)
        return market.rack_rate + marginal_value / market.nights, gain
    best_price, best_gain = math.inf, 0.0
    for price in market.price_grid:
        gain = market.booking_probability(price) * (market.nights * price - marginal_value)
        if gain > best_gain:
            best_price, best_gain = price, gain
    return best_price, best_gain


@lru_cache(maxsize=16)
def value_table(market: HotelMarket) -> tuple[tuple[float, ...], ...]:
    """V as `table[t][n]` for t ≤ market.periods and n ≤ market.rooms, in EUR."""
    row = tuple(n * market.nights * market.salvage for n in range(market.rooms + 1))
    table = [row]
    for _ in range(market.periods):
        previous = row
        row = (0.0,) + tuple(
            previous[n] + _best_price_and_gain(market, previous[n] - previous[n - 1])[1]
            for n in range(1, market.rooms + 1)
        )
        table.append(row)
    return tuple(table)


def _state(market: HotelMarket, rooms_left: int | None, periods_left: int | None) -> tuple[int, int]:
    rooms = market.rooms if rooms_left is None else rooms_left
    periods = market.periods if periods_left is None else periods_left
    if not (0 <= rooms <= market.rooms and 0 <= periods <= market.periods):
        raise ValueError(f"state ({rooms} rooms, {periods} periods) lies outside the market's table")
    return rooms, periods


def expected_revenue(
    market: HotelMarket, rooms_left: int | None = None, periods_left: int | None = None
) -> float:
    """V(n, t) in EUR; the state defaults to the market's own (rooms, periods)."""
    rooms, periods = _state(market, rooms_left, periods_left)
    return value_table(market)[periods][rooms]


def optimal_price(
    market: HotelMarket, rooms_left: int | None = None, periods_left: int | None = None
) -> float:
    """The price per room-night the hotel posts to individual guests at (n, t); `math.inf` = sales closed."""
    rooms, periods = _state(market, rooms_left, periods_left)
    if rooms == 0 or periods == 0:
        raise ValueError("no price is posted without rooms or periods left")
    row = value_table(market)[periods - 1]
    return _best_price_and_gain(market, row[rooms] - row[rooms - 1])[0]


def block_opportunity_cost(
    market: HotelMarket, block_rooms: int, rooms_left: int | None = None, periods_left: int | None = None
) -> float:
    """V(n, t) - V(n-k, t): the revenue from individual guests the hotel gives up by selling k rooms now, in EUR."""
    rooms, periods = _state(market, rooms_left, periods_left)
    if not 0 <= block_rooms <= rooms:
        raise ValueError(f"a block of {block_rooms} rooms does not fit in {rooms} unsold rooms")
    row = value_table(market)[periods]
    return row[rooms] - row[rooms - block_rooms]


@dataclass(frozen=True)
class TourOperator:
    """The buyer: it resells the rooms inside packages to its own customers."""

    resale_rate: float  # EUR per room-night its customers pay for the room part of a package
    other_costs_share: float  # share of that revenue spent elsewhere (transport, guides, marketing, fees)

    def __post_init__(self) -> None:
        if self.resale_rate <= 0 or not 0 <= self.other_costs_share < 1:
            raise ValueError("need resale_rate > 0 and other_costs_share in [0, 1)")

    def block_value(self, block_rooms: int, nights: int) -> float:
        """The most the operator can pay for the block without losing money on it, in EUR."""
        return block_rooms * nights * self.resale_rate * (1 - self.other_costs_share)


@dataclass(frozen=True)
class RoomBlockSpec:
    """Ranges (inclusive) that room-block deals are drawn from; integers for counts, EUR for money."""

    inventory: tuple[int, int] = (15, 100)  # unsold rooms for the stay
    block_rooms: tuple[int, int] = (5, 30)  # rooms the operator wants (capped at the inventory)
    nights: tuple[int, int] = (1, 5)
    days_to_arrival: tuple[int, int] = (7, 60)
    periods_per_day: int = 6  # booking periods per day; at most one guest request per period
    arrival_probability: tuple[float, float] = (0.4, 1.0)  # λ per period
    rack_rate: tuple[float, float] = (80.0, 250.0)  # EUR per room-night, rounded to whole euros
    salvage_share: tuple[float, float] = (0.1, 0.3)  # last-minute channels: salvage per room-night / rack
    resale_markup: tuple[float, float] = (0.9, 1.4)  # operator's resale rate over the rack rate
    other_costs_share: tuple[float, float] = (0.1, 0.35)

    def __post_init__(self) -> None:
        for name in ("inventory", "block_rooms", "nights", "days_to_arrival", "arrival_probability"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"{name} must be a range 0 < low <= high, got {(low, high)}")
        for name in ("rack_rate", "salvage_share", "resale_markup", "other_costs_share"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be a range 0 <= low <= high, got {(low, high)}")
        if self.block_rooms[0] > self.inventory[0]:
            raise ValueError("the smallest block must fit in the smallest inventory")
        if self.periods_per_day < 1 or self.arrival_probability[1] > 1 or self.other_costs_share[1] >= 1:
            raise ValueError("need periods_per_day >= 1, arrival_probability <= 1, other_costs_share < 1")


@dataclass(frozen=True)
class RoomBlockDraw:
    """One deal. `context` holds only public facts; `market` and `operator` are each side's private model."""

    buyer_value: float  # EUR, the operator's private value of the block
    seller_cost: float  # EUR, the hotel's private opportunity cost of the block
    context: dict[str, Any]  # block_rooms, nights, days_to_arrival, rack_rate
    market: HotelMarket
    operator: TourOperator


def draw_room_block(rng: random.Random, spec: RoomBlockSpec | None = None) -> RoomBlockDraw:
    """Draw a room-block deal; the same `rng` state always gives the same draw."""
    spec = spec or RoomBlockSpec()
    inventory = rng.randint(*spec.inventory)
    block_rooms = rng.randint(spec.block_rooms[0], min(spec.block_rooms[1], inventory))
    nights = rng.randint(*spec.nights)
    days = rng.randint(*spec.days_to_arrival)
    rack_rate = float(round(rng.uniform(*spec.rack_rate)))
    market = HotelMarket(
        rooms=inventory,
        periods=days * spec.periods_per_day,
        arrival_probability=rng.uniform(*spec.arrival_probability),
        rack_rate=rack_rate,
        nights=nights,
        salvage=rack_rate * rng.uniform(*spec.salvage_share),
    )
    operator = TourOperator(
        resale_rate=rack_rate * rng.uniform(*spec.resale_markup),
        other_costs_share=rng.uniform(*spec.other_costs_share),
    )
    return RoomBlockDraw(
        buyer_value=round(operator.block_value(block_rooms, nights), 2),
        seller_cost=round(block_opportunity_cost(market, block_rooms), 2),
        context={
            "block_rooms": block_rooms,
            "nights": nights,
            "days_to_arrival": days,
            "rack_rate": rack_rate,
        },
        market=market,
        operator=operator,
    )


@dataclass(frozen=True)
class PostedPriceOutcome:
    trade: bool
    price: float  # EUR for the whole block
    realised_gains: float  # v - c if traded, else 0
    available_gains: float  # max(v - c, 0)

    @property
    def efficiency(self) -> float | None:
        """Realised over available gains; None when no trade was worthwhile (pool sums across draws instead)."""
        return self.realised_gains / self.available_gains if self.available_gains > 0 else None


def posted_price_baseline(draw: RoomBlockDraw, discount: float = 0.0) -> PostedPriceOutcome:
    """The naive mechanism: the hotel quotes rack rate × rooms × nights × (1 - discount) from public facts alone.

    A posted price trades iff both sides accept, cost ≤ price ≤ value (the dominant-strategy, individually rational
    mechanism of lecture notes 003), so it never destroys surplus but misses deals the quote does not fit.
    """
    if not 0 <= discount < 1:
        raise ValueError("discount must be in [0, 1)")
    facts = draw.context
    price = round(facts["rack_rate"] * facts["block_rooms"] * facts["nights"] * (1 - discount), 2)
    trade = draw.seller_cost <= price <= draw.buyer_value
    gains = draw.buyer_value - draw.seller_cost
    return PostedPriceOutcome(trade, price, gains if trade else 0.0, max(gains, 0.0))
