"""Scenarios and the seeded sampler that draws them.

A scenario fixes everything about one negotiation: the domain and item, the price tier, the buyer's private value,
the seller's private cost, the public prior both values are known to come from, who moves first, the round limit
and the per-round discount. Randomness comes only from `random.Random` seeded by a hash of the sampler seed and
the scenario's index, so the same seed gives the same scenarios on every machine and Python version.

Value models: `uniform` and `correlated` place v and c inside the tier's band around the item's reference price;
`hotel_room_block` draws a room-block deal from `env.hotel_pricing` (the hotel's opportunity cost from its revenue-
management dynamic program, the tour operator's resale value), its public facts in `Scenario.context`.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from haggle.env.catalogue import Item, default_catalogue, load_catalogue
from haggle.env.config_loading import build, load_yaml
from haggle.env.domains import Domain, builtin_domains, parse_domains
from haggle.env.hotel_pricing import (
    HotelMarket,
    RoomBlockSpec,
    draw_room_block,
    expected_revenue,
    posted_price_baseline,
)

Role = Literal["buyer", "seller"]
ROLES: tuple[Role, Role] = ("buyer", "seller")


def other_role(role: Role) -> Role:
    return "seller" if role == "buyer" else "buyer"


@dataclass(frozen=True)
class Scenario:
    scenario_id: str
    seed: int
    domain: Domain
    item: Item
    price_tier: str
    buyer_value: float
    seller_cost: float
    value_low: float  # public: both private values are known to lie in [value_low, value_high]
    value_high: float
    first_mover: Role = "seller"
    max_rounds: int = 10
    discount: float = 1.0  # per-round discount factor on both sides' surplus; 1.0 = patient
    context: dict[str, Any] = field(default_factory=dict)  # public facts of the deal (e.g. rooms in a block)

    def __post_init__(self) -> None:
        for name in ("buyer_value", "seller_cost", "value_low", "value_high"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"scenario {self.scenario_id}: {name} must be finite and non-negative")
        if self.max_rounds < 1:
            raise ValueError("max_rounds must be at least 1")
        if not 0 < self.discount <= 1:
            raise ValueError("discount must be in (0, 1]")

    @property
    def currency(self) -> str:
        return self.domain.currency

    @property
    def gains_from_trade(self) -> float:
        """The surplus an efficient outcome creates: v - c when trade is worthwhile, else nothing."""
        return max(self.buyer_value - self.seller_cost, 0.0)

    @property
    def has_zone_of_agreement(self) -> bool:
        return self.buyer_value > self.seller_cost

    def private_value(self, role: Role) -> float:
        return self.buyer_value if role == "buyer" else self.seller_cost

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scenario:
        data = dict(data)
        domain = dict(data.pop("domain"))
        domain["categories"] = tuple(domain.get("categories", ()))
        return cls(domain=Domain(**domain), item=Item(**data.pop("item")), **data)


@dataclass(frozen=True)
class PriceTier:
    """A band of item prices. Template items take `reference_price`; catalogue items must fall in the band."""

    name: str
    reference_price: float
    low: float
    high: float

    def contains(self, price: float) -> bool:
        return self.low <= price < self.high


def decade_tiers(references: list[float]) -> list[PriceTier]:
    """Tiers centred on each reference price, each covering half a decade on both sides (log scale)."""
    return [
        PriceTier(_tier_name(price), price, price / math.sqrt(10), price * math.sqrt(10))
        for price in sorted(references)
    ]


def _tier_name(price: float) -> str:
    for threshold, suffix in ((1e6, "M"), (1e3, "k")):
        if price >= threshold:
            return f"{price / threshold:g}{suffix}"
    return f"{price:g}"


def quantile_tiers(items: list[Item], count: int) -> list[PriceTier]:
    """Tiers at equal-count quantiles of a catalogue's prices, each referenced at its median item."""
    prices = sorted(item.reference_price for item in items)
    if count < 1 or count > len(prices):
        raise ValueError(f"cannot cut {len(prices)} items into {count} quantile tiers")
    cuts = [prices[round(i * len(prices) / count)] for i in range(count)] + [math.inf]
    tiers = []
    for i in range(count):
        band = [p for p in prices if cuts[i] <= p < cuts[i + 1]]
        tiers.append(PriceTier(f"q{i + 1}", band[len(band) // 2], cuts[i], cuts[i + 1]))
    return tiers


DEFAULT_TIER_PRICES = [10.0, 100.0, 1_000.0, 10_000.0, 100_000.0]
ValueModel = Literal["uniform", "correlated", "hotel_room_block"]
VALUE_MODELS: tuple[str, ...] = ("uniform", "correlated", "hotel_room_block")
ROOM_BLOCK_TIER = "room_block"  # the one tier of `hotel_room_block`: each deal draws its own scale


@dataclass
class SamplerConfig:
    """How scenarios are drawn. Parsed from the `scenarios:` block of a config (see configs/scenarios/)."""

    tiers: list[float] | None = (
        None  # reference prices; None = DEFAULT_TIER_PRICES (ignored with quantile_tiers)
    )
    quantile_tiers: int | None = (
        None  # instead of fixed tiers: this many tiers at the catalogue's price quantiles
    )
    domains: list[str] = field(default_factory=lambda: ["abstract"])
    extra_domains: dict[str, Any] = field(default_factory=dict)  # new domains, same fields as domains.yaml
    catalogue: str | None = None  # CSV / JSONL / CraigslistBargains JSON; None = the built-in catalogue
    value_model: ValueModel = "uniform"
    spread: float = 0.5  # values lie in reference * [1 - spread, 1 + spread]
    correlation: float = 0.7  # weight of the common shock under value_model=correlated
    no_zone_share: float | None = None  # share of scenarios with v < c; None = whatever the value model gives
    first_mover: Literal["buyer", "seller", "random"] = "seller"
    max_rounds: int = 10
    discount: float = 1.0
    # value_model=hotel_room_block: `RoomBlockSpec` ranges (env/hotel_pricing.py), e.g. {nights: [2, 4],
    # rack_rate: [90, 180]}; a single number fixes a range; {} = the documented defaults
    hotel: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.spread < 1:
            raise ValueError("spread must be in (0, 1) so that values stay positive")
        if not 0 <= self.correlation <= 1:
            raise ValueError("correlation must be in [0, 1]")
        if self.no_zone_share is not None and not 0 <= self.no_zone_share <= 1:
            raise ValueError("no_zone_share must be in [0, 1]")
        if self.value_model not in VALUE_MODELS:
            raise ValueError(
                f"value_model must be one of {', '.join(VALUE_MODELS)}; got {self.value_model!r}"
            )
        if self.value_model == "hotel_room_block":
            if self.tiers is not None or self.quantile_tiers is not None:
                raise ValueError(
                    "value_model hotel_room_block draws each deal's scale from `hotel:` (rooms, nights, rack "
                    "rate): drop `tiers` / `quantile_tiers`"
                )
            if self.no_zone_share is not None:
                raise ValueError(
                    "no_zone_share does not apply to value_model hotel_room_block: whether a room block has a zone "
                    "of agreement follows from its `hotel:` ranges"
                )
            self.room_block_spec()  # a bad `hotel:` mapping fails here, not at the first draw
        elif self.hotel:
            raise ValueError("`hotel:` settings go with `value_model: hotel_room_block`")
        if self.first_mover not in ("buyer", "seller", "random"):
            raise ValueError("first_mover must be 'buyer', 'seller' or 'random'")

    def room_block_spec(self) -> RoomBlockSpec:
        return room_block_spec(self.hotel)

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any] | None) -> SamplerConfig:
        return build(cls, mapping, what="scenario setting")

    @classmethod
    def from_yaml(cls, path: str | Path) -> SamplerConfig:
        """Read the `scenarios:` block of a config file (or the whole file if it has none)."""
        loaded = load_yaml(path)
        return cls.from_mapping(loaded.get("scenarios", loaded))


def draw_first_mover(setting: Literal["buyer", "seller", "random"], rng: random.Random) -> Role:
    """The side that opens: as configured, or a fair coin (drawn from the scenario's own stream) for "random"."""
    if setting == "random":
        return rng.choice(ROLES)
    return setting


def room_block_spec(mapping: dict[str, Any] | None) -> RoomBlockSpec:
    """A `hotel:` mapping as `RoomBlockSpec`: ranges as [low, high] (or one number for a fixed value)."""
    ranges = {spec.name for spec in fields(RoomBlockSpec) if isinstance(spec.default, tuple)}
    values = {
        name: [value, value] if name in ranges and isinstance(value, int | float) else value
        for name, value in (mapping or {}).items()
    }
    return build(RoomBlockSpec, values, where="hotel")


def room_block_prior(context: dict[str, Any], spec: RoomBlockSpec) -> tuple[float, float]:
    """The public prior [low, high] of a room-block deal: bounds on both private values that follow from its public
    facts (block_rooms k, nights N, days_to_arrival, rack_rate θ) and the spec's ranges alone.

    Operator: v = k N θ · markup · (1 - other costs share), so the ranges bound it. Hotel: every unsold room earns
    at least its salvage, so a block costs at least k N θ · min salvage share; the room value V(n, t) is concave in
    n, so a block forgoes at most k times the value of a hotel's last room, V(1, t), which grows with the demand λ
    and the salvage: at most k V(1, t) at the highest of both. Rounded outwards to the cent."""
    rooms, nights, rack = context["block_rooms"], context["nights"], context["rack_rate"]
    block = rooms * nights * rack
    value_low = block * spec.resale_markup[0] * (1 - spec.other_costs_share[1])
    value_high = block * spec.resale_markup[1] * (1 - spec.other_costs_share[0])
    richest_last_room = HotelMarket(
        rooms=1,
        periods=context["days_to_arrival"] * spec.periods_per_day,
        arrival_probability=spec.arrival_probability[1],
        rack_rate=rack,
        nights=nights,
        salvage=rack * spec.salvage_share[1],
    )
    cost_low = block * spec.salvage_share[0]
    cost_high = rooms * expected_revenue(richest_last_room)
    low, high = min(value_low, cost_low), max(value_high, cost_high)
    return math.floor(low * 100) / 100, math.ceil(high * 100) / 100


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts, stable across machines (unlike `hash()`)."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class ScenarioSampler:
    def __init__(self, config: SamplerConfig | None = None) -> None:
        self.config = config or SamplerConfig()
        self.domains = {**builtin_domains(), **parse_domains(self.config.extra_domains)}
        missing = [name for name in self.config.domains if name not in self.domains]
        if missing:
            raise ValueError(f"unknown domain(s) {missing}; known: {sorted(self.domains)}")
        self.items = load_catalogue(self.config.catalogue) if self.config.catalogue else default_catalogue()
        self.room_block: RoomBlockSpec | None = None
        if self.config.value_model == "hotel_room_block":
            self.room_block = self.config.room_block_spec()
            listed = [name for name in self.config.domains if self.domains[name].item_source != "template"]
            if listed:
                raise ValueError(
                    f"value_model hotel_room_block needs template domains (the item is the room block), not "
                    f"catalogue domain(s) {listed}; use e.g. hotel_b2b"
                )
            # one tier for every deal, referenced at a typical block's quote: each item carries its own price
            spec = self.room_block
            typical = math.prod(sum(span) / 2 for span in (spec.block_rooms, spec.nights, spec.rack_rate))
            self.tiers = [PriceTier(ROOM_BLOCK_TIER, typical, 0.0, math.inf)]
        elif self.config.quantile_tiers:
            self.tiers = quantile_tiers(self.items, self.config.quantile_tiers)
        else:
            self.tiers = decade_tiers(self.config.tiers or DEFAULT_TIER_PRICES)
        self.tier_by_name = {tier.name: tier for tier in self.tiers}

    @property
    def tier_names(self) -> list[str]:
        return [tier.name for tier in self.tiers]

    def sample(self, count: int, seed: int) -> list[Scenario]:
        """`count` scenarios, tiers and domains balanced round-robin, scenario i depending only on (seed, i)."""
        tiers, domains = self.tier_names, self.config.domains
        return [
            self.draw(
                derive_seed("scenario", seed, index),
                tier=tiers[index % len(tiers)],
                domain=domains[(index // len(tiers)) % len(domains)],
            )
            for index in range(count)
        ]

    def draw(self, seed: int, *, tier: str, domain: str) -> Scenario:
        """One scenario rebuilt from its seed, tier and domain alone (what GRPO's `reset(**row)` relies on)."""
        if tier not in self.tier_by_name:
            raise ValueError(f"unknown price tier {tier!r}; known: {self.tier_names}")
        if domain not in self.domains:
            raise ValueError(f"unknown domain {domain!r}; known: {sorted(self.domains)}")
        config, rng = self.config, random.Random(seed)
        price_tier, framing = self.tier_by_name[tier], self.domains[domain]
        if self.room_block is not None:
            return self._draw_room_block(seed, rng, tier, framing)
        item = self._item(rng, price_tier, framing)
        low = item.reference_price * (1 - config.spread)
        high = item.reference_price * (1 + config.spread)
        buyer_share, seller_share = self._value_draw(rng)
        if config.no_zone_share is not None:
            want_no_zone = rng.random() < config.no_zone_share
            if (buyer_share < seller_share) != want_no_zone:
                buyer_share, seller_share = seller_share, buyer_share
        first_mover = draw_first_mover(config.first_mover, rng)
        return Scenario(
            scenario_id=f"{domain}-{tier}-{seed:016x}",
            seed=seed,
            domain=framing,
            item=item,
            price_tier=tier,
            buyer_value=round(low + buyer_share * (high - low), 2),
            seller_cost=round(low + seller_share * (high - low), 2),
            value_low=round(low, 2),
            value_high=round(high, 2),
            first_mover=first_mover,
            max_rounds=config.max_rounds,
            discount=config.discount,
        )

    def _draw_room_block(self, seed: int, rng: random.Random, tier: str, framing: Domain) -> Scenario:
        """A hotel room-block deal: private values from the hotel's and the operator's models, public facts in the
        context (plus the hotel's naive rate-card quote, `naive_posted_price`, which the posted-price baseline
        posts), and the prior those facts imply."""
        assert self.room_block is not None
        config, deal = self.config, draw_room_block(rng, self.room_block)
        naive_price = posted_price_baseline(deal).price  # rack rate × rooms × nights: public facts alone
        low, high = room_block_prior(deal.context, self.room_block)
        first_mover = draw_first_mover(config.first_mover, rng)
        return Scenario(
            scenario_id=f"{framing.name}-{tier}-{seed:016x}",
            seed=seed,
            domain=framing,
            item=Item(framing.item_title, framing.name, framing.item_description, naive_price),
            price_tier=tier,
            buyer_value=deal.buyer_value,
            seller_cost=deal.seller_cost,
            value_low=low,
            value_high=high,
            first_mover=first_mover,
            max_rounds=config.max_rounds,
            discount=config.discount,
            context={**deal.context, "naive_posted_price": naive_price},
        )

    def _value_draw(self, rng: random.Random) -> tuple[float, float]:
        """Positions of v and c inside the prior's support, each in [0, 1]."""
        if self.config.value_model == "uniform":
            return rng.random(), rng.random()
        weight = self.config.correlation
        common = rng.random()
        return weight * common + (1 - weight) * rng.random(), weight * common + (1 - weight) * rng.random()

    def _item(self, rng: random.Random, tier: PriceTier, domain: Domain) -> Item:
        if domain.item_source == "template":
            return Item(domain.item_title, domain.name, domain.item_description, tier.reference_price)
        candidates = [
            item
            for item in self.items
            if tier.contains(item.reference_price)
            and (not domain.categories or item.category in domain.categories)
        ]
        if not candidates:
            raise ValueError(
                f"no catalogue item fits tier {tier.name} ({tier.low:g}-{tier.high:g}) "
                f"for domain {domain.name}"
            )
        return rng.choice(candidates)
