"""`haggle theory`: what bargaining theory predicts on a config's own scenario draws, tier by tier.

Prints, for each price tier, first-best, Nash bargaining, the Chatterjee–Samuelson k-double auction, the best
posted price and random-proposer take-it-or-leave-it offers, computed on the very draws a model would play (with
95% intervals), beside the closed forms for independent uniform values where the config draws that prior (absent
otherwise), and the efficiency curves in the disclosure rate α. Set these next to `haggle simulate` / `haggle eval` results on the same config and seed.

    haggle theory --config configs/scenarios/default.yaml
    haggle theory --config configs/scenarios/marketplace.yaml --episodes 5000 --seed 1 --json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from haggle.env.scenario import SamplerConfig, ScenarioSampler
from haggle.eval import theory
from haggle.eval.references import PRIOR_WIDTHS, closed_forms_hold, prior_theory, tier_benchmarks, tiers_of


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "theory", help="theory's reference points (second-best, posted price, ...) on a config's scenarios"
    )
    parser.add_argument(
        "--config", type=Path, help="YAML with a `scenarios:` block (default: built-in sampler)"
    )
    parser.add_argument("--episodes", type=int, default=2000, help="scenarios to draw, spread over the tiers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=float, default=0.5, help="buyer's weight in the k-double-auction price")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.episodes < 1:
        raise SystemExit("--episodes must be at least 1")
    if not 0 <= args.k <= 1:
        raise SystemExit("--k must be in [0, 1] (0: the seller's ask sets the price, 1: the buyer's bid)")
    try:
        config = SamplerConfig.from_yaml(args.config) if args.config else SamplerConfig()
        sampler = ScenarioSampler(config)
    except (OSError, ValueError) as error:
        raise SystemExit(f"cannot build the scenario sampler from {args.config}: {error}") from None
    scenarios = sampler.sample(args.episodes, args.seed)
    report = {
        "config": str(args.config) if args.config else None,
        "episodes": args.episodes,
        "seed": args.seed,
        "k": args.k,
        "value_model": config.value_model,
        "closed_forms_apply": closed_forms_hold(config),
        "prior": {key: value for key, value in prior_theory(config, args.k).items() if key != "offers"},
        "tiers": {
            tier: tier_benchmarks(group, config, args.k, alphas=theory.DEFAULT_ALPHAS)
            for tier, group in tiers_of(scenarios, sampler.tier_names).items()
        },
    }
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


# ---------------------------------------------------------------------------------------------------------------
# The human tables


MECHANISM_LABELS = {
    "first_best": "first-best",
    "nash_bargaining": "Nash bargaining",
    "chatterjee_samuelson": "k-double auction (linear eq.)",
    "best_posted_price": "best posted price",
    "random_proposer": "random proposer",
}


def _mechanism_label(name: str, result: dict[str, Any], k: float) -> str:
    label = MECHANISM_LABELS[name]
    if name == "chatterjee_samuelson":
        return f"{label} k={k:g}"
    return f"{label} {result['price']:,.2f}" if result["price"] is not None else label


def _number(value: float | None, width: int = 6) -> str:
    return f"{value:>{width}.3f}" if value is not None else f"{'-':>{width}}"


def _with_ci(value: float | None, interval: list[float] | None) -> str:
    if value is None:
        return f"{'-':>21}"
    if interval is None:
        return f"{value:.3f}".ljust(21)
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def format_report(report: dict[str, Any]) -> str:
    source = report["config"] or "the built-in sampler"
    lines = [
        f"Theory on {source}: {report['episodes']} scenarios, seed {report['seed']}, "
        f"value model {report['value_model']}.",
        "Monte Carlo on each tier's own draws (95% CI); "
        + (
            "'uniform' is the closed form for these independent uniform values."
            if report["closed_forms_apply"]
            else "no closed-form column: they hold for independent uniform values, which this config does not draw."
        ),
    ]
    lines += ["", *_prior_lines(report["prior"], report["k"])]
    for tier, result in report["tiers"].items():
        lines += ["", *_tier_table(tier, result, report["k"])]
    return "\n".join(lines)


def _prior_lines(prior: dict[str, Any], k: float) -> list[str]:
    """The prior's own second-best and the mechanisms optimised on it (population values, no draws)."""
    best, posted, proposer = prior["second_best"], prior["best_posted_price"], prior["random_proposer"]
    status = (
        "an equilibrium of this prior: its rows are double-auction values, not the second-best"
        if prior["linear_equilibrium"]
        else f"NOT an equilibrium of this prior (a side gains {prior['linear_best_response_gain']:.0%} by "
        "best-responding): no double-auction row"
    )
    return [
        f"Under the prior drawn ({prior['prior']}), efficiency over first-best:",
        f"  second-best (IC, IR, budget-balanced) {best['efficiency']:.3f} ± {best['grid_error']:.3f} grid error, "
        f"by {best['method']}",
        f"  best posted price {posted['efficiency']:.3f} at {posted['position']:.3f} of the prior's support",
        f"  random proposer (offers optimal under the conditional prior) {proposer['efficiency']:.3f}",
        f"  k-double auction's linear strategies (k={k:g}): {status}",
        "Rows below: these mechanisms on the tier's draws, with rules fixed on the prior.",
    ]


def _tier_table(tier: str, result: dict[str, Any], k: float) -> list[str]:
    support = result["support"]
    where = (
        "each draw on its own support"
        if result["units"] == PRIOR_WIDTHS
        else f"support [{support['low']:,.2f}, {support['high']:,.2f}]"
    )
    closed_forms = result.get("uniform")  # absent where the prior drawn is not independent uniform
    uniform_header = f" {'uniform':>7}" if closed_forms else ""
    header = (
        f"{'mechanism':<28} {'efficiency [95% CI]':<21}{uniform_header} {'trade':>6} {'buyer sh':>8} "
        f"{'seller sh':>9} {'mean gains':>11}"
    )
    lines = [
        f"tier {tier}: {result['draws']} draws, {where}, money in {result['units']}",
        header,
        "-" * len(header),
    ]
    for name, found in result["monte_carlo"].items():
        closed = (
            f" {_number(closed_forms[theory.UNIFORM_COUNTERPART[name]]['efficiency'], 7)}"
            if closed_forms
            else ""
        )
        lines.append(
            f"{_mechanism_label(name, found, k):<28} {_with_ci(found['efficiency'], found['efficiency_ci'])}"
            f"{closed} {_number(found['trade_rate'])} {_number(found['buyer_share'], 8)} "
            f"{_number(found['seller_share'], 9)} {found['mean_gains']:>11,.2f}"
        )
    if not result["disclosure"]:
        return [*lines, "", "disclosure α: not shown (the curves start from k = ½ double-auction play, no "
                "equilibrium of this prior)"]  # fmt: skip
    modes = theory.ALPHA_MODES
    suffix = " (uniform)" if closed_forms else ""
    lines += ["", f"{'disclosure α':<13}" + "".join(f"{mode + suffix:>22}" for mode in modes)]
    by_alpha: dict[float, dict[str, dict[str, Any]]] = {}
    for row in result["disclosure"]:
        by_alpha.setdefault(row["alpha"], {})[row["mode"]] = row
    for alpha, rows in by_alpha.items():
        cells = [
            _number(rows[m]["efficiency"])
            + (f" ({rows[m]['uniform_efficiency']:.3f})" if closed_forms else "")
            for m in modes
        ]
        lines.append(f"{alpha:<13.2f}" + "".join(f"{cell:>22}" for cell in cells))
    return lines
