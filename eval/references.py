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
from haggle.eval import second_best, theory

ALL_TIERS = "all"
PRIOR_WIDTHS = (
    "prior widths"  # the unit of money when a tier's scenarios do not share one support and currency
)
ALPHA_GRID = [i / 50 for i in range(51)]


def closed_forms_hold(config: SamplerConfig) -> bool:
    """The closed forms assume independent uniform values; a forced no-zone share breaks independence."""
    return config.value_model == "uniform" and config.no_zone_share is None


CS_EQUILIBRIUM_TOLERANCE = (
    0.01  # best responses gaining under 1% mean the linear strategies are an equilibrium
)


def prior_key(config: SamplerConfig) -> tuple[Any, ...]:
    """What fixes the prior on the unit square (scale and catalogue do not)."""
    hotel = tuple(sorted((k, repr(v)) for k, v in config.hotel.items()))
    domain = config.domains[0] if config.value_model == "hotel_room_block" else None
    return (config.value_model, config.correlation, config.no_zone_share, hotel, domain)


_PRIOR_THEORY: dict[tuple[Any, ...], dict[str, Any]] = {}


def prior_theory(config: SamplerConfig, k: float = 0.5) -> dict[str, Any]:
    """The second-best, best posted price, random proposer and the k-double auction's status under the prior
    `config` draws (`eval.second_best`), JSON-ready; computed once per prior and process."""
    key = (*prior_key(config), k)
    if key not in _PRIOR_THEORY:
        prior = second_best.prior_table(config, second_best.FINE_GRID)
        found = second_best.second_best(prior)
        price, posted = second_best.posted_price(prior)
        buyer_offers, seller_offers = second_best.monopoly_offers(prior)
        gain = second_best.linear_equilibrium_gain(prior.coarser().coarser(), k)
        _PRIOR_THEORY[key] = {
            "prior": prior.source,
            "second_best": {
                "efficiency": found.efficiency,
                "method": found.method,
                "grid_error": found.grid_error,
            },
            "best_posted_price": {"position": price, **vars(posted)},
            "random_proposer": vars(second_best.random_proposer(prior)),
            "first_best_gains": prior.first_best_gains,
            "linear_best_response_gain": gain,
            "linear_equilibrium": gain <= CS_EQUILIBRIUM_TOLERANCE,
            "offers": [buyer_offers.tolist(), seller_offers.tolist()],
        }
    return _PRIOR_THEORY[key]


def prior_rules(config: SamplerConfig, k: float = 0.5) -> dict[str, Any]:
    """The rules the Monte Carlo rows play, fixed on the prior: `eval.theory.monte_carlo_benchmarks`'s keywords."""
    found = prior_theory(config, k)
    return {
        "posted_position": found["best_posted_price"]["position"],
        "offers": tuple(np.array(side) for side in found["offers"]),
        "linear_equilibrium": found["linear_equilibrium"],
    }


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
def tier_benchmarks(
    scenarios: Sequence[Scenario], config: SamplerConfig, k: float, alphas: tuple[float, ...]
) -> dict[str, Any]:
    """One tier's reference points. Money stays in the currency when every scenario shares one support and
    currency; otherwise each draw is mapped onto its own support and money is in prior widths. The closed forms
    for independent uniform values (`uniform`, each disclosure row's `uniform_efficiency`) are there only when
    the config draws that prior: a theory line is right for the prior drawn, or absent."""
    supports = {(s.value_low, s.value_high) for s in scenarios}
    currencies = {s.currency for s in scenarios}
    if len(supports) == 1 and len(currencies) == 1:
        (low, high), units = supports.pop(), currencies.pop()
        values = np.array([s.buyer_value for s in scenarios])
        costs = np.array([s.seller_cost for s in scenarios])
    else:
        (values, costs), low, high, units = unit_draws(scenarios), 0.0, 1.0, PRIOR_WIDTHS
    rules = prior_rules(config, k)
    curves = prior_theory(config)["linear_equilibrium"]  # the curves start from k = 1/2 play, whatever `k`
    found = theory.benchmarks_for(
        values, costs, low, high, k, alphas=alphas, disclosure_curves=curves, **rules
    )
    if not closed_forms_hold(config):
        found.pop("uniform")
        found["disclosure"] = [
            {key: value for key, value in row.items() if key != "uniform_efficiency"}
            for row in found["disclosure"]
        ]
    return {"units": units, **found}


# -- the eval report and its plots -------------------------------------------------------------------------------
def theory_by_tier(
    scenarios: Sequence[Scenario], tier_names: Sequence[str], config: SamplerConfig, k: float = 0.5
) -> dict[str, Any]:
    """`eval.theory.benchmarks_for` on each tier's draws (and all of them), every draw on its unit prior, with
    rules fixed on the prior; each tier also carries the prior's own values (`prior_theory`)."""
    groups = tiers_of(scenarios, tier_names) | {ALL_TIERS: list(scenarios)}
    rules, on_prior = prior_rules(config, k), prior_theory(config, k)
    population = {key: value for key, value in on_prior.items() if key != "offers"}
    return {
        tier: theory.benchmarks_for(*unit_draws(group), 0.0, 1.0, k=k, alphas=(), **rules)
        | {"prior": population}
        for tier, group in groups.items()
    }


def reference_points(benchmarks: dict[str, Any]) -> dict[str, Any]:
    """The reference points a table or plot shows, from one tier's Monte Carlo benchmarks."""
    found = benchmarks["monte_carlo"]
    # per-draw shares (no deal = 0), the estimand of the model's points they sit beside
    shares = {
        name: {"buyer": found[name]["buyer_share_per_draw"], "seller": found[name]["seller_share_per_draw"]}
        for name in ("nash_bargaining", "random_proposer")
    }
    proposer = found["random_proposer"]
    # pooled shares (total surplus over total gains), the estimand of a model's share of gains
    pooled = {
        "buyer": proposer["buyer_share"],
        "buyer_ci": proposer["buyer_share_ci"],
        "seller": proposer["seller_share"],
        "seller_ci": proposer["seller_share_ci"],
    }
    double_auction = found.get("chatterjee_samuelson") or {}
    return {
        "first_best_trade_rate": found["first_best"]["trade_rate"],
        "chatterjee_samuelson_efficiency": double_auction.get("efficiency"),
        "chatterjee_samuelson_efficiency_ci": double_auction.get("efficiency_ci"),
        "chatterjee_samuelson_trade_rate": double_auction.get("trade_rate"),
        "best_posted_price_efficiency_ci": found["best_posted_price"]["efficiency_ci"],
        "random_proposer_efficiency_ci": found["random_proposer"]["efficiency_ci"],
        "best_posted_price_efficiency": found["best_posted_price"]["efficiency"],
        "best_posted_price_trade_rate": found["best_posted_price"]["trade_rate"],
        "nash_share": shares["nash_bargaining"],
        "random_proposer_share": shares["random_proposer"],
        "random_proposer_share_of_gains": pooled,
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
        "second-best (Myerson–Satterthwaite; = Chatterjee–Samuelson here)": theory.CS_EFFICIENCY,
        "best posted price": theory.POSTED_PRICE_EFFICIENCY,
    }


class AlphaTheory:
    """Efficiency at disclosure rate α for every behavioural mode: the closed form where it holds, otherwise on
    the run's own draws, each on the unit square of its public prior (the scale of the pooled efficiency)."""

    def __init__(self, config: SamplerConfig, scenarios: Sequence[Scenario]) -> None:
        uniform = closed_forms_hold(config)
        self.draws = None if uniform else unit_draws(scenarios)
        # every curve starts at α = 0 from k = 1/2 double-auction play: none where that is no equilibrium
        self.shown = uniform or prior_theory(config)["linear_equilibrium"]

    @property
    def source(self) -> str:
        if not self.shown:
            return (
                "not shown: the curves start at α = 0 from k = ½ double-auction play, which is no equilibrium "
                "of this prior"
            )
        return "closed form, uniform values" if self.draws is None else "Monte Carlo on this run's scenarios"

    def at(self, alpha: float) -> dict[str, float]:
        if not self.shown:
            return {}
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
        """Every mode's efficiency over `ALPHA_GRID` (no mode where the curves are not shown)."""
        points = [self.at(alpha) for alpha in ALPHA_GRID]
        return {"alpha": ALPHA_GRID} | {mode: [p[mode] for p in points] for mode in points[0]}
