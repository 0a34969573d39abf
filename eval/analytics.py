"""Strategy analytics: the behaviours found to drive surplus in LLM bargaining, measured on one side's offers.

- anchoring: the first offer relative to the side's own value (a buyer far below 1, a seller far above 1 is
  aggressive), and where in the public prior it opens (0 = the buyer's end, 1 = the seller's end);
- concession: the mean move towards the other side between successive own offers (one per round), as a fraction
  of the own value;
- patience: rounds to agreement;
- price discrimination: whether first offers scale with the item's value across tiers, as the slope of log first
  offer on log reference price. 1 means offers are proportional to the item's value, 0 that the side opens with
  the same number whatever it sells or buys.
Pure functions over (scenario, outcome) pairs, so they run on stored records and on hand-built cases alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import fmean
from typing import Any

import numpy as np
from haggle.env.metrics import Played
from haggle.env.outcome import concession_per_offer, first_offer_ratio
from haggle.env.scenario import Role, Scenario
from haggle.eval import stats


def _mean(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return fmean(present) if present else None


def first_offer(played: Played, role: Role) -> float | None:
    offers = played[1].offers.get(role) or []
    return offers[0] if offers else None


def first_offer_position(scenario: Scenario, offer: float | None) -> float | None:
    """Where an offer sits in the public prior [value_low, value_high]: 0 at the bottom, 1 at the top."""
    width = scenario.value_high - scenario.value_low
    return None if offer is None or width <= 0 else (offer - scenario.value_low) / width


def offer_analytics(played: Sequence[Played], role: Role) -> dict[str, Any]:
    """Anchoring, concession and patience of the side playing `role` over a set of episodes."""
    return {
        "episodes_with_offer": sum(first_offer(p, role) is not None for p in played),
        "first_offer_ratio": _mean([first_offer_ratio(outcome, role) for _, outcome in played]),
        "first_offer_position": _mean(
            [first_offer_position(s, first_offer((s, o), role)) for s, o in played]
        ),
        "concession_per_offer": _mean([concession_per_offer(outcome, role) for _, outcome in played]),
        "rounds_to_agreement": _mean([outcome.rounds for _, outcome in played if outcome.deal]),
    }


def _slope(points: np.ndarray) -> float:
    """Least-squares slope of column 1 on column 0; NaN when column 0 does not vary (one price level)."""
    x, y = points[:, 0], points[:, 1]
    spread = float(((x - x.mean()) ** 2).sum())
    return float(((x - x.mean()) * (y - y.mean())).sum() / spread) if spread > 0 else math.nan


def price_discrimination(
    played: Sequence[Played], role: Role, *, resamples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Slope of log first offer on log reference price, with a bootstrap 95% interval over episodes.

    The slope needs at least two price levels; with one, it is None."""
    points = [
        (math.log(scenario.item.reference_price), math.log(offer))
        for scenario, outcome in played
        if (offer := first_offer((scenario, outcome), role)) is not None
        and offer > 0
        and scenario.item.reference_price > 0
    ]
    levels = len({x for x, _ in points})
    result: dict[str, Any] = {
        "episodes": len(points),
        "price_levels": levels,
        "slope": None,
        "slope_ci": None,
    }
    if levels < 2:
        return result
    data = np.array(points)
    interval = stats.bootstrap_ci(data, _slope, resamples=resamples, seed=seed)
    bounds = [interval.low, interval.high]
    return result | {
        "slope": interval.estimate,
        "slope_ci": bounds if all(map(math.isfinite, bounds)) else None,
    }
