"""Aggregate metrics over episodes, overall and per price tier (pure functions over scenarios and outcomes)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from statistics import fmean
from typing import Any

import numpy as np
from haggle.env.outcome import (
    Outcome,
    concession_per_offer,
    first_offer_ratio,
    normalised_gains,
    normalised_surplus,
)
from haggle.env.scenario import ROLES, Role, Scenario

Played = tuple[Scenario, Outcome]


def pooled_efficiency(realised: np.ndarray, available: np.ndarray) -> float:
    """Realised over available gains summed over episodes (NaN without gains): the statistic that bootstrap
    intervals resample, on gains already in prior widths (`normalised_gains`)."""
    total = float(available.sum())
    return float(realised.sum()) / total if total > 0 else float("nan")


def share_rows(sides: Iterable[tuple[Scenario, Outcome, Role]]) -> np.ndarray:
    """One row per episode and side: that side's discounted surplus and the available gains, in prior widths."""
    return np.array([normalised_surplus(o, s, role) for s, o, role in sides], dtype=float).reshape(-1, 2)


def pooled_share(sides: Iterable[tuple[Scenario, Outcome, Role]]) -> float | None:
    """The sides' surplus summed over their episodes over the available gains summed, in prior widths so tiers
    pool: their share of the gains from trade there were (None without any). Unlike the mean of per-episode shares
    (`surplus_share_unconditional`) it has no heavy tail: a loss where there were almost no gains is a share like
    -100 but a small amount of surplus. The estimand of theory's `buyer_share` / `seller_share` on the same draws."""
    rows = share_rows(sides)
    return _ratio(float(rows[:, 0].sum()), float(rows[:, 1].sum()))


def _mean(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return fmean(present) if present else None


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def summarise(played: Sequence[Played]) -> dict[str, Any]:
    """Deal rate, efficiency, surplus shares and strategy statistics for a set of episodes.

    `efficiency` is realised over available gains with each scenario's gains in units of its own prior width, so
    that a $100k tier does not drown a $10 tier; within a tier whose items differ in price this still weights each
    scenario by its prior width, not its money. `efficiency_money` is plain realised over available gains in money,
    meaningful where the episodes share one currency and scale. Both discount realised gains by δ^(rounds-1).
    """
    outcomes = [outcome for _, outcome in played]
    with_zone = [o for o in outcomes if o.available_gains > 0]
    without_zone = [o for o in outcomes if o.buyer_value < o.seller_cost]  # ties trade harmlessly
    zone_deals = [o for o in with_zone if o.deal]
    gains = [normalised_gains(outcome, scenario) for scenario, outcome in played]
    available = sum(a for _, a in gains)
    irrational = [o for o in outcomes if o.irrational_side]
    return {
        "episodes": len(outcomes),
        "deals": sum(o.deal for o in outcomes),
        "deal_rate": _rate(sum(o.deal for o in outcomes), len(outcomes)),
        "efficiency": sum(r for r, _ in gains) / available if available > 0 else None,
        "efficiency_money": _ratio(
            sum(o.discounted_gains for o in outcomes), sum(o.available_gains for o in outcomes)
        ),
        "surplus_share": {role: _mean(o.surplus_share(role) for o in zone_deals) for role in ROLES},
        "surplus_share_unconditional": {
            role: _mean(o.surplus_share(role) for o in with_zone) for role in ROLES
        },
        "share_of_gains": {role: pooled_share((s, o, role) for s, o in played) for role in ROLES},
        "efficient_trade_rate": _rate(len(zone_deals), len(with_zone)),
        "correct_walk_away_rate": _rate(sum(not o.deal for o in without_zone), len(without_zone)),
        "irrational_deals": {
            **{role: sum(o.irrational_side == role for o in irrational) for role in ROLES},
            "induced_by_other_side": sum(bool(o.irrational_deal_induced) for o in irrational),
        },
        "mean_rounds_to_deal": _mean(o.rounds for o in outcomes if o.deal),
        "violations_per_episode": {
            role: _mean(o.violations.get(role, 0) for o in outcomes) for role in ROLES
        },
        "forfeits": sum(o.end_reason == "forfeit" for o in outcomes),
        "first_offer_ratio": {role: _mean(first_offer_ratio(o, role) for o in outcomes) for role in ROLES},
        "concession_per_offer": {
            role: _mean(concession_per_offer(o, role) for o in outcomes) for role in ROLES
        },
    }


def summarise_by_tier(played: Sequence[Played], tier_order: Sequence[str] | None = None) -> dict[str, Any]:
    """The overall summary with a `tiers` mapping from each price tier to its own summary."""
    by_tier: dict[str, list[Played]] = {}
    for scenario, outcome in played:
        by_tier.setdefault(scenario.price_tier, []).append((scenario, outcome))
    order = [t for t in (tier_order or []) if t in by_tier] + sorted(set(by_tier) - set(tier_order or []))
    return summarise(played) | {"tiers": {tier: summarise(by_tier[tier]) for tier in order}}
