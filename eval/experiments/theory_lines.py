"""What theory says beside an experiment's rows, taken from `eval.theory`: reference efficiencies, and the
efficiency curves in the disclosure rate α for the disclosure report.

Closed forms hold for independent uniform values. For other value models (correlated, hotel room blocks) the α
curves are evaluated on the run's own scenario draws, each put on the unit square of its public prior, which is
the scale the report's pooled efficiency uses; the mechanism rows already are Monte Carlo on those draws.
"""

from __future__ import annotations

import numpy as np
from haggle.env.scenario import SamplerConfig, Scenario
from haggle.eval import theory

ALPHA_GRID = [i / 50 for i in range(51)]


def closed_forms_hold(scenarios: SamplerConfig) -> bool:
    return scenarios.value_model == "uniform" and scenarios.no_zone_share is None


def reference_efficiencies(scenarios: SamplerConfig) -> dict[str, float]:
    if not closed_forms_hold(scenarios):
        return {}
    return {
        "second-best (Chatterjee–Samuelson)": theory.CS_EFFICIENCY,
        "best posted price": theory.POSTED_PRICE_EFFICIENCY,
    }


def unit_draws(scenarios: list[Scenario]) -> tuple[np.ndarray, np.ndarray]:
    """Each scenario's (v, c) on [0, 1] of its public prior."""
    width = np.array([s.value_high - s.value_low or 1.0 for s in scenarios])
    low = np.array([s.value_low for s in scenarios])
    values = (np.array([s.buyer_value for s in scenarios]) - low) / width
    costs = (np.array([s.seller_cost for s in scenarios]) - low) / width
    return values, costs


class AlphaTheory:
    """Efficiency at disclosure rate α for every behavioural mode: closed form, or on the given draws."""

    def __init__(self, draws: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.draws = draws

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
