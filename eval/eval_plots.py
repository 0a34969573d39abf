"""PNG plots of an eval: the model's surplus share and deal rate by price tier, one panel per role, one line per
opponent with its 95% intervals, and theory's reference lines on the same scenarios. matplotlib (the `eval`
extra) is imported when plotting, with the Agg backend, so plots work on headless nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from haggle.env.scenario import ROLES
from haggle.eval.formatting import headless_pyplot, spread
from haggle.eval.references import ALL_TIERS, reference_points

PLOT_DIR = "plots"
# Below this many draws a tier's Monte Carlo trade rate is mostly noise (the Chatterjee–Samuelson mechanism trades
# on none of two or three small-gap draws): the plots show the prior's closed form there, where it holds.
MIN_DRAWS = 30
# metric key -> (file name, title of the figure, y label, [(reference point, line label, style)])
FIGURES: dict[str, tuple[str, str, str, list[tuple[str, str, str]]]] = {
    "surplus_share_unconditional": (
        "surplus_share_by_tier.png",
        "Surplus share (no deal = 0)",
        "model's share of the gains",
        [("nash_share", "Nash split", ":"), ("random_proposer_share", "random proposer", "--")],
    ),
    "deal_rate": (
        "deal_rate_by_tier.png",
        "Deal rate",
        "deal rate",
        [
            ("first_best_trade_rate", "first-best", ":"),
            ("chatterjee_samuelson_trade_rate", "Chatterjee–Samuelson k=½", "--"),
        ],
    ),
}
# reference point -> the benchmark in the prior's closed forms ("uniform") read for a tier with few draws
PRIOR_TRADE_RATES = {
    "first_best_trade_rate": "first_best",
    "chatterjee_samuelson_trade_rate": "chatterjee_samuelson",
}


def panel_title(role: str) -> str:
    return f"model as {role}"


def _reference(data: dict[str, Any], tier: str, key: str, role: str) -> float | None:
    """A reference point on the tier's draws; the prior's closed form instead where the draws are few."""
    benchmarks = data["theory"].get(tier)
    if benchmarks is None:
        return None
    prior = benchmarks.get("uniform") or {}
    if benchmarks["draws"] < MIN_DRAWS and PRIOR_TRADE_RATES.get(key) in prior:
        return prior[PRIOR_TRADE_RATES[key]]["trade_rate"]
    value = reference_points(benchmarks)[key]
    return value[role] if isinstance(value, dict) else value


def tier_figure(data: dict[str, Any], metric: str) -> Any:
    """One panel per role: the metric by tier for each opponent, with error bars and theory's lines."""
    pyplot = headless_pyplot()
    _, title, y_label, references = FIGURES[metric]
    tiers = [tier for tier in data["tiers"] if tier != ALL_TIERS]
    figure, axes = pyplot.subplots(
        1, len(ROLES), figsize=(5 * len(ROLES) + 2.5, 4.2), sharey=True, squeeze=False, layout="constrained"
    )
    for panel, role in zip(axes[0], ROLES, strict=True):
        for index, opponent in enumerate(data["opponents"]):
            cells = {c["tier"]: c for c in data["cells"] if c["opponent"] == opponent and c["role"] == role}
            shown = [t for t in tiers if t in cells and cells[t][metric] is not None]
            if not shown:
                continue
            offset = 0.06 * (index - (len(data["opponents"]) - 1) / 2)  # keep error bars apart
            x = [tiers.index(t) + offset for t in shown]
            values = [cells[t][metric] for t in shown]
            spreads = [
                spread(v, cells[t][f"{metric}_ci"] or (v, v)) for v, t in zip(values, shown, strict=True)
            ]
            error = [[s[0][0] for s in spreads], [s[1][0] for s in spreads]]
            panel.errorbar(x, values, yerr=error, fmt="-o", capsize=3, label=f"vs {opponent}")
        for key, label, style in references:
            # one short level per tier, nothing drawn across tiers: theory says nothing between them
            for position, tier in enumerate(tiers):
                value = _reference(data, tier, key, role)
                if value is not None:
                    left, right = position - 0.3, position + 0.3
                    panel.hlines(
                        value, left, right, colors="tab:gray", linestyles=style, label=f"theory: {label}"
                    )
        panel.set_xticks(range(len(tiers)), tiers)
        panel.set_xlabel("price tier")
        panel.set_title(panel_title(role))
        panel.grid(alpha=0.3)
    axes[0][0].set_ylabel(y_label)
    handles = dict(zip(*reversed(axes[0][0].get_legend_handles_labels()), strict=True))  # one entry per label
    figure.legend(handles.values(), handles.keys(), loc="outside right upper", fontsize="small")
    from_prior = any(key in PRIOR_TRADE_RATES for key, *_ in references) and any(
        data["theory"].get(tier, {}).get("draws", MIN_DRAWS) < MIN_DRAWS for tier in tiers
    )
    note = f"\ntheory from the prior at tiers with < {MIN_DRAWS} draws" if from_prior else ""
    figure.suptitle(f"{title}: {data['model']['name']} (95% intervals){note}")
    return figure


def write_plots(data: dict[str, Any], out_dir: Path) -> list[Path]:
    """plots/surplus_share_by_tier.png and plots/deal_rate_by_tier.png under `out_dir`."""
    pyplot = headless_pyplot()
    (out_dir / PLOT_DIR).mkdir(parents=True, exist_ok=True)
    paths = []
    for metric, (name, *_) in FIGURES.items():
        figure = tier_figure(data, metric)
        path = out_dir / PLOT_DIR / name
        figure.savefig(path, dpi=110)
        pyplot.close(figure)
        paths.append(path)
    return paths
