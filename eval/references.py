"""Theory's reference points for a set of scenarios: the one place that turns scenario draws into the numbers
`haggle theory`, eval.md, the eval plots and the experiment reports set beside the models. The maths is
`eval.theory`; this module chooses the draws, their scale and which of theory's numbers each report shows.

Scale: tiers pool only when every draw is put on the unit square of its own public prior (`unit_draws`). The
theory command keeps money in the currency where a tier's scenarios share one support and currency.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from haggle.env.outcome import prior_position
from haggle.env.scenario import SamplerConfig, Scenario
from haggle.eval import theory

ALL_TIERS = "all"
PRIOR_WIDTHS = (
    "prior widths"  # the unit of money when a tier's scenarios do not share one support and currency
)
ALPHA_GRID = [i / 50 for i in range(51)]


def closed_forms_hold(config: SamplerConfig) -> bool:
    """The closed forms assume independent uniform values; a forced no-zone share breaks independence."""
    return config.value_model == "uniform" and config.no_zone_share is None


def unit_draws(scenarios: Sequence[Scenario]) -> tuple[np.ndarray, np.ndarray]:
    """Each scenario's (v, c) on [0, 1] of its public prior."""
    values = [prior_position(s.buyer_value, s.value_low, s.value_high) for s in scenarios]
    costs = [prior_position(s.seller_cost, s.value_low, s.value_high) for s in scenarios]
    return np.array(values, dtype=float), np.array(costs, dtype=float)


def tiers_of(scenarios: Sequence[Scenario], tier_names: Sequence[str]) -> dict[str, list[Scenario]]:
    """Each tier's scenarios in the config's tier order, tiers without any left out."""
    groups = {tier: [s for s in scenarios if s.price_tier == tier] for tier in tier_names}
    return {tier: group for tier, group in groups.items() if group}


# -- `haggle theory` ---------------------------------------------------------------------------------------------
def tier_benchmarks(scenarios: Sequence[Scenario], k: float, alphas: tuple[float, ...]) -> dict[str, Any]:
    """One tier's reference points. Money stays in the currency when every scenario shares one support and
    currency; otherwise each draw is mapped onto its own support and money is in prior widths."""
    supports = {(s.value_low, s.value_high) for s in scenarios}
    currencies = {s.currency for s in scenarios}
    if len(supports) == 1 and len(currencies) == 1:
        (low, high), units = supports.pop(), currencies.pop()
        values = np.array([s.buyer_value for s in scenarios])
        costs = np.array([s.seller_cost for s in scenarios])
    else:
        (values, costs), low, high, units = unit_draws(scenarios), 0.0, 1.0, PRIOR_WIDTHS
    return {"units": units, **theory.benchmarks_for(values, costs, low, high, k, alphas=alphas)}


# -- the eval report and its plots -------------------------------------------------------------------------------
def theory_by_tier(
    scenarios: Sequence[Scenario], tier_names: Sequence[str], k: float = 0.5
) -> dict[str, Any]:
    """`eval.theory.benchmarks_for` on each tier's draws (and all of them), every draw on its unit prior."""
    groups = tiers_of(scenarios, tier_names) | {ALL_TIERS: list(scenarios)}
    return {
        tier: theory.benchmarks_for(*unit_draws(group), 0.0, 1.0, k=k, alphas=())
        for tier, group in groups.items()
    }


def reference_points(benchmarks: dict[str, Any]) -> dict[str, Any]:
    """The reference points a table or plot shows, from one tier's Monte Carlo benchmarks."""
    found = benchmarks["monte_carlo"]
    shares = {
        name: {"buyer": found[name]["buyer_share"], "seller": found[name]["seller_share"]}
        for name in ("nash_bargaining", "random_proposer")
    }
    return {
        "first_best_trade_rate": found["first_best"]["trade_rate"],
        "chatterjee_samuelson_efficiency": found["chatterjee_samuelson"]["efficiency"],
        "chatterjee_samuelson_trade_rate": found["chatterjee_samuelson"]["trade_rate"],
        "best_posted_price_efficiency": found["best_posted_price"]["efficiency"],
        "best_posted_price_trade_rate": found["best_posted_price"]["trade_rate"],
        "nash_share": shares["nash_bargaining"],
        "random_proposer_share": shares["random_proposer"],
        "random_proposer_efficiency": found["random_proposer"]["efficiency"],
        "random_proposer_trade_rate": found["random_proposer"]["trade_rate"],
    }


# -- experiment reports ------------------------------------------------------------------------------------------
def reference_efficiencies(config: SamplerConfig) -> dict[str, float]:
    """The efficiency lines an experiment's rows sit beside; none where the closed forms do not hold (the
    mechanism rows are then Monte Carlo on the run's own draws)."""
    if not closed_forms_hold(config):
        return {}
    return {
        "second-best (Chatterjee–Samuelson)": theory.CS_EFFICIENCY,
        "best posted price": theory.POSTED_PRICE_EFFICIENCY,
    }


class AlphaTheory:
    """Efficiency at disclosure rate α for every behavioural mode: the closed form where it holds, otherwise on
    the run's own draws, each on the unit square of its public prior (the scale of the pooled efficiency)."""

    def __init__(self, config: SamplerConfig, scenarios: Sequence[Scenario]) -> None:
        self.draws = None if closed_forms_hold(config) else unit_draws(scenarios)

    @property
    def source(self) -> str:
        return "closed form, uniform values" if self.draws is None else "Monte Carlo on this run's scenarios"

    def at(self, alpha: float) -> dict[str, float]:
        if self.draws is None:
            return {mode: theory.alpha_efficiency(alpha, mode) for mode in theory.ALPHA_MODES}
        values, costs = self.draws
        available = np.maximum(values - costs, 0).sum()
        return {
            mode: float(
                theory.disclosure_outcomes(values, costs, 0.0, 1.0, alpha, mode).gains.sum() / available
            )
            for mode in theory.ALPHA_MODES
        }

    def curves(self) -> dict[str, list[float]]:
        points = [self.at(alpha) for alpha in ALPHA_GRID]
        return {"alpha": ALPHA_GRID} | {mode: [p[mode] for p in points] for mode in theory.ALPHA_MODES}
