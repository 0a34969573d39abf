"""The numbers of an eval, per opponent × the model's role × price tier (and all tiers), with their uncertainty,
beside what theory says on the same scenarios; written as eval.json (schema `haggle.eval/1`) and eval.md.

Point estimates come from `env.metrics.summarise`, the function `haggle simulate` prints, on the episodes in
scenario order, so an eval of a scripted model reproduces `haggle simulate` on the same config and seed exactly.
Intervals: Wilson for deal rates; percentile bootstrap over episodes for surplus shares, for the pooled share of
gains (the model's surplus over the gains there were) and for efficiency (realised over available gains), the last
two in prior widths so tiers pool. Theory comes from `eval.theory` on the eval's own draws,
each put on the unit square of its public prior.

eval.json (`haggle.eval/1`): `model`, `opponents`, `config` (as run), `tiers` (the config's, then "all"),
`episodes_planned` / `episodes_stored`, `cells` (one per opponent × role × tier: `cell_stats`, the role being the
model's), `price_discrimination` (per opponent × role, and "all" opponents), `theory` (per tier:
`eval.theory.benchmarks_for`), `plots` (paths relative to the run directory).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

import numpy as np
from haggle.env.metrics import Played, pooled_efficiency, share_rows, summarise
from haggle.env.outcome import EndReason, Outcome, normalised_gains
from haggle.env.scenario import Role, Scenario, other_role
from haggle.eval import stats
from haggle.eval.analytics import offer_analytics, price_discrimination
from haggle.eval.eval_plots import write_plots
from haggle.eval.eval_run import EvalRun
from haggle.eval.formatting import ci, num, table
from haggle.eval.references import ALL_TIERS, reference_points, theory_by_tier

EVAL_SCHEMA = "haggle.eval/1"
ALL_OPPONENTS = "all"


def played_of(records: Sequence[dict[str, Any]]) -> list[Played]:
    return [(Scenario.from_dict(r["scenario"]), Outcome.from_dict(r["outcome"])) for r in records]


def by_tier(played: Sequence[Played], tier_names: Sequence[str]) -> dict[str, list[Played]]:
    """Each tier's episodes (tiers without any left out), then all of them under "all"."""
    if not played:
        return {}
    groups = {tier: [p for p in played if p[0].price_tier == tier] for tier in tier_names}
    return {tier: group for tier, group in groups.items() if group} | {ALL_TIERS: list(played)}


def _mean_ci(values: Sequence[float | None], resamples: int, seed: int) -> list[float] | None:
    present = [value for value in values if value is not None]  # None only where a scenario has no gains
    if not present:
        return None
    interval = stats.bootstrap_ci(present, resamples=resamples, seed=seed, bounds=(0.0, 1.0))
    return [interval.low, interval.high]


def pooled_ratio_ci(
    rows: np.ndarray, resamples: int, seed: int, bounds: tuple[float, float] | None
) -> list[float] | None:
    """Bootstrap interval of Σ part / Σ available gains over episodes (rows: part, available, both in prior
    widths; a row stays together); None where no episode had gains. Efficiency, the pooled share of gains and
    their paired differences (`eval.compare`, the pipeline's before/after table) all use it."""
    if rows[:, 1].sum() <= 0:
        return None
    interval = stats.bootstrap_ci(
        rows,
        lambda sample: pooled_efficiency(sample[:, 0], sample[:, 1]),
        resamples=resamples,
        seed=seed,
        bounds=bounds,
    )
    return [interval.low, interval.high]


def _efficiency_ci(played: Sequence[Played], resamples: int, seed: int) -> list[float] | None:
    gains = np.array([normalised_gains(outcome, scenario) for scenario, outcome in played], dtype=float)
    return pooled_ratio_ci(gains, resamples, seed, bounds=(0.0, 1.0))


def _share_of_gains_ci(played: Sequence[Played], role: Role, resamples: int, seed: int) -> list[float] | None:
    rows = share_rows((scenario, outcome, role) for scenario, outcome in played)
    return pooled_ratio_ci(rows, resamples, seed, bounds=None)  # a loss can go below 0


def _rate_ci(outcomes: Sequence[Outcome]) -> tuple[float | None, list[float] | None]:
    """Deal rate with its Wilson interval; None for both when there are no such scenarios."""
    if not outcomes:
        return None, None
    deals = sum(o.deal for o in outcomes)
    return deals / len(outcomes), list(stats.wilson_interval(deals, len(outcomes)))


def cell_stats(
    played: Sequence[Played], role: Role, *, resamples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """One opponent × role × tier: what the model playing `role` achieved, and how it behaved."""
    summary = summarise(played)
    outcomes = [outcome for _, outcome in played]
    with_zone = [o for o in outcomes if o.available_gains > 0]
    deals, count = summary["deals"], summary["episodes"]
    with_gains_rate, with_gains_ci = _rate_ci(with_zone)
    without_gains_rate, without_gains_ci = _rate_ci([o for o in outcomes if o.buyer_value < o.seller_cost])
    return {
        "episodes": count,
        "deals": deals,
        "deal_rate": summary["deal_rate"],
        "deal_rate_ci": list(stats.wilson_interval(deals, count)),
        # deals where trade pays (v > c) and where it cannot (v < c); ties v = c in neither
        "deal_rate_with_gains": with_gains_rate,
        "deal_rate_with_gains_ci": with_gains_ci,
        "deal_rate_without_gains": without_gains_rate,
        "deal_rate_without_gains_ci": without_gains_ci,
        # how every episode ended, whoever ended it (walking away is the risk-free 0 a reward hack would use)
        "end_reasons": {
            reason: sum(o.end_reason == reason for o in outcomes) for reason in get_args(EndReason)
        },
        # the model's share of the gains: among deals with gains, and over all scenarios with gains (no deal = 0)
        "surplus_share": summary["surplus_share"][role],
        "surplus_share_ci": _mean_ci([o.surplus_share(role) for o in with_zone if o.deal], resamples, seed),
        "surplus_share_unconditional": summary["surplus_share_unconditional"][role],
        "surplus_share_unconditional_ci": _mean_ci(
            [o.surplus_share(role) for o in with_zone], resamples, seed
        ),
        # its share of all the gains there were (`env.metrics.pooled_share`): no heavy tail, theory's estimand
        "share_of_gains": summary["share_of_gains"][role],
        "share_of_gains_ci": _share_of_gains_ci(played, role, resamples, seed),
        "efficiency": summary["efficiency"],
        "efficiency_ci": _efficiency_ci(played, resamples, seed),
        "mean_rounds_to_deal": summary["mean_rounds_to_deal"],
        "violations_per_episode": summary["violations_per_episode"][role],
        "violation_rate": sum(o.violations.get(role, 0) > 0 for o in outcomes) / count,
        "forfeits": sum(o.ended("forfeit", by=role) for o in outcomes),
        "irrational_deals": summary["irrational_deals"][role],  # the model traded at a loss
        "irrational_deals_opponent": summary["irrational_deals"][other_role(role)],
        "scenarios_with_zone": len(with_zone),
        "scenarios_without_zone": sum(o.buyer_value < o.seller_cost for o in outcomes),
        "missed_deals": sum(not o.deal for o in with_zone),  # no deal although v > c
        "walk_aways_when_possible": sum(o.ended("walked_away", by=role) for o in with_zone),
        "deals_without_zone": sum(o.deal and o.buyer_value < o.seller_cost for o in outcomes),
        "strategy": offer_analytics(played, role),
    }


def build_eval(run: EvalRun) -> dict[str, Any]:
    """eval.json's content for a run directory read back by `eval.runner.load_run`."""
    config, resamples = run.config, run.config.bootstrap_resamples
    cells: list[dict[str, Any]] = []
    discrimination: list[dict[str, Any]] = []
    pooled: dict[Role, list[Played]] = {"buyer": [], "seller": []}
    for (opponent, role), records in run.records.items():
        played = played_of(records)
        pooled[role] += played
        for tier, group in by_tier(played, run.tier_names).items():
            seed = len(cells)
            cells.append(
                {"opponent": opponent, "role": role, "tier": tier}
                | cell_stats(group, role, resamples=resamples, seed=seed)
            )
        discrimination.append(
            {"opponent": opponent, "role": role} | price_discrimination(played, role, resamples=resamples)
        )
    for role, played in pooled.items():
        discrimination.append(
            {"opponent": ALL_OPPONENTS, "role": role}
            | price_discrimination(played, role, resamples=resamples)
        )
    planned = len(run.scenarios) * len(config.opponents) * 2
    return {
        "schema": EVAL_SCHEMA,
        "model": config.model.to_dict(),
        "opponents": [spec.name for spec in config.opponents],
        "config": config.to_dict(),
        "tiers": [*run.tier_names, ALL_TIERS],
        "episodes_planned": planned,
        "episodes_stored": sum(len(records) for records in run.records.values()),
        "cells": cells,
        "price_discrimination": discrimination,
        "theory": theory_by_tier(run.scenarios, run.tier_names, config.scenarios),
    }


# -- markdown ---------------------------------------------------------------------------------------------------
def _count(hits: int, total: int) -> str:
    return f"{hits}/{total}"


def _end_reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in counts.items() if count) or "none"


def _results_table(cells: list[dict[str, Any]]) -> str:
    return table(
        ["opponent", "role", "tier", "n", "deal rate [95%]", "share given deal [95%]", "share, all [95%]",
         "share of gains, pooled [95%]", "efficiency [95%]", "rounds", "violations/ep", "irrational", "missed deals", "walk-aways",
         "no-zone deals"],
        [
            [c["opponent"], c["role"], c["tier"], str(c["episodes"]), ci(c["deal_rate"], c["deal_rate_ci"]),
             ci(c["surplus_share"], c["surplus_share_ci"]),
             ci(c["surplus_share_unconditional"], c["surplus_share_unconditional_ci"]),
             ci(c["share_of_gains"], c["share_of_gains_ci"]), ci(c["efficiency"], c["efficiency_ci"]), num(c["mean_rounds_to_deal"], 2),
             num(c["violations_per_episode"], 2), str(c["irrational_deals"]),
             _count(c["missed_deals"], c["scenarios_with_zone"]), str(c["walk_aways_when_possible"]),
             _count(c["deals_without_zone"], c["scenarios_without_zone"])]
            for c in cells
        ],
    )  # fmt: skip


def _deals_and_ends_table(cells: list[dict[str, Any]]) -> str:
    return table(
        ["opponent", "role", "tier", "deal rate, v > c [95%]", "deal rate, v < c [95%]", "how episodes ended"],
        [
            [c["opponent"], c["role"], c["tier"], ci(c["deal_rate_with_gains"], c["deal_rate_with_gains_ci"]),
             ci(c["deal_rate_without_gains"], c["deal_rate_without_gains_ci"]), _end_reasons(c["end_reasons"])]
            for c in cells
        ],
    )  # fmt: skip


def _strategy_table(cells: list[dict[str, Any]]) -> str:
    return table(
        ["opponent", "role", "tier", "first offer / own value", "first offer in prior", "concession / offer",
         "rounds to agreement"],
        [
            [c["opponent"], c["role"], c["tier"], num(s["first_offer_ratio"]), num(s["first_offer_position"]),
             num(s["concession_per_offer"]), num(s["rounds_to_agreement"], 2)]
            for c in cells
            if (s := c["strategy"])
        ],
    )  # fmt: skip


def _theory_table(by_tier_theory: dict[str, Any]) -> str:
    lines = []
    for tier, benchmarks in by_tier_theory.items():
        ref = reference_points(benchmarks)
        nash, proposer = ref["nash_share"], ref["random_proposer_share"]
        pooled = ref["random_proposer_share_of_gains"]
        double_auction = (
            f"{ci(ref['chatterjee_samuelson_efficiency'], ref['chatterjee_samuelson_efficiency_ci'])} "
            f"({num(ref['chatterjee_samuelson_trade_rate'])})"
            if ref["chatterjee_samuelson_efficiency"] is not None
            else "not an equilibrium"
        )
        lines.append(
            [tier, str(benchmarks["draws"]), num(ref["first_best_trade_rate"]), double_auction,
             f"{ci(ref['best_posted_price_efficiency'], ref['best_posted_price_efficiency_ci'])} "
             f"({num(ref['best_posted_price_trade_rate'])})",
             f"{num(nash['buyer'])} / {num(nash['seller'])}",
             f"{num(proposer['buyer'])} / {num(proposer['seller'])} "
             f"({ci(ref['random_proposer_efficiency'], ref['random_proposer_efficiency_ci'])})",
             f"{ci(pooled['buyer'], pooled['buyer_ci'])} / {ci(pooled['seller'], pooled['seller_ci'])}"]
        )  # fmt: skip
    return table(
        ["tier", "draws", "first-best trade rate", "k-double auction k=½ efficiency [95%] (trade)",
         "best posted price efficiency [95%] (trade)", "Nash split buyer / seller",
         "random proposer buyer / seller (efficiency [95%])",
         "random proposer share of gains, pooled: buyer / seller [95%]"],
        lines,
    )  # fmt: skip


def _prior_line(by_tier_theory: dict[str, Any]) -> str:
    prior = next(iter(by_tier_theory.values()))["prior"]
    best = prior["second_best"]
    return (
        f"Under the prior drawn ({prior['prior']}), efficiency over first-best: second-best (IC, IR, "
        f"budget-balanced) {num(best['efficiency'])} ± {num(best['grid_error'])} (grid error; {best['method']}), "
        f"best posted price {num(prior['best_posted_price']['efficiency'])}, random proposer "
        f"{num(prior['random_proposer']['efficiency'])}. The k-double auction's linear strategies are "
        + ("an equilibrium of this prior (its column is a double-auction value, not the second-best)."
           if prior["linear_equilibrium"] else "not an equilibrium of this prior, so no double-auction value is shown.")
    )  # fmt: skip


def format_markdown(data: dict[str, Any]) -> str:
    model = data["model"]
    served = model["params"].get("model") or model["strategy"] or model["name"]
    adapter = model["params"].get("adapter")
    config = data["config"]
    parts = [
        f"# Eval: {model['name']}",
        f"Model `{served}`{f' + adapter `{adapter}`' if adapter else ''} ({model['kind']}) against "
        f"{', '.join(data['opponents'])} in both roles; {config['episodes']} scenarios per opponent and role, "
        f"seed {config['seed']}; {data['episodes_stored']}/{data['episodes_planned']} episodes stored.",
        "## Results per opponent, role and tier",
        "Role is the model's. Deal rate with a Wilson 95% interval; the model's share of the gains from trade: "
        "the mean of per-episode shares among deals and over all scenarios with gains (no deal = 0; a loss where "
        "there were almost no gains weighs like -100, so read these with the pooled one), and pooled: its surplus "
        "summed over every episode over the gains there were, both in prior widths (a loss counts; theory's "
        "estimand); efficiency: realised over available gains; bootstrap 95% intervals over episodes. Irrational: deals at a loss to the model; missed deals: no deal "
        "although v > c; walk-aways: the model left although v > c; no-zone deals: deals although v < c, over the scenarios with v < c (ties v = c in neither count).",
        _results_table(data["cells"]),
        "## Strategy",
        "First offer over the model's own value (anchoring), where it sits in the public prior (0 bottom, 1 top), "
        "mean concession per own offer as a fraction of the own value, rounds to agreement.",
        _strategy_table(data["cells"]),
        "## Deals with and without gains from trade, and how episodes ended",
        "Deal rate over the scenarios where trade pays (v > c) and where it cannot (v < c), Wilson 95% intervals "
        "(ties v = c in neither); then the count of each way an episode ended, whichever side ended it.",
        _deals_and_ends_table(data["cells"]),
        "## Price discrimination",
        "Slope of log first offer on log reference price across tiers (1: offers scale with the item's value; "
        "0: the same offer whatever the item), bootstrap 95% interval.",
        table(
            ["opponent", "role", "slope [95%]", "offers", "price levels"],
            [
                [
                    d["opponent"],
                    d["role"],
                    ci(d["slope"], d["slope_ci"]),
                    str(d["episodes"]),
                    str(d["price_levels"]),
                ]
                for d in data["price_discrimination"]
            ],
        ),  # fmt: skip
        "## Theory on the same scenarios",
        _prior_line(data["theory"]),
        "Below, Monte Carlo on these scenarios' draws, each on the unit square of its public prior, with every "
        "rule (posted price, take-it-or-leave-it offers) fixed on the prior, not on these draws; normal 95% "
        "intervals over draws (efficiencies clipped to [0, 1]). The Nash and random-proposer splits are means of "
        "per-scenario shares over scenarios with gains (no deal = 0), like the model's unconditional share; the "
        "pooled random-proposer shares are total surplus over total gains, like the model's pooled share. See "
        "docs/theory.md.",
        _theory_table(data["theory"]),
    ]
    if data.get("plots"):
        parts += ["## Plots", *[f"![{name}]({name})" for name in data["plots"]]]
    return "\n\n".join(parts) + "\n"


def write_eval(run: EvalRun, out_dir: Path, *, plots: bool = True) -> tuple[dict[str, Any], str]:
    """eval.json, eval.md and the PNG plots in `out_dir`; returns the data and the markdown."""
    data = build_eval(run)
    if plots:
        data["plots"] = [str(path.relative_to(out_dir)) for path in write_plots(data, out_dir)]
    markdown = format_markdown(data)
    (out_dir / "eval.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    (out_dir / "eval.md").write_text(markdown, encoding="utf-8")
    return data, markdown
