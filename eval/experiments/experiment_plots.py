"""PNG plots of an experiment report: trade rate and efficiency per row with their intervals, and efficiency
against the disclosure rate α beside the theory curves. matplotlib is imported when plotting (the `eval` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from haggle.eval.formatting import headless_pyplot, spread

# rates and efficiencies live on [0, 1]: a margin either side keeps a point at 0 or 1 whole
UNIT_LIMITS = (-0.05, 1.05)


def _row_panel(pyplot: Any, rows: list[dict[str, Any]], key: str, title: str, lines: dict[str, float]) -> Any:
    """One horizontal error bar per row (condition · row), top to bottom in table order; the reference lines'
    legend sits below the axes, where it covers no row."""
    shown = [row for row in rows if row[key] is not None]
    height = 0.45 * len(shown) + 1.9 + 0.25 * len(lines)
    figure, axes = pyplot.subplots(figsize=(7, height), layout="constrained")
    labels = [f"{row['condition']} · {row['row']}" for row in shown]
    for y, row in enumerate(shown):
        value, interval = row[key], row[f"{key}_ci"] or (row[key], row[key])
        colour = "tab:gray" if row["row_kind"] == "mechanism" else "tab:blue"
        axes.errorbar(value, y, xerr=spread(value, interval), fmt="o", color=colour, capsize=3)
    for (name, value), style in zip(lines.items(), ("--", ":", "-.", "--"), strict=False):
        axes.axvline(value, linestyle=style, color="tab:red", linewidth=1, label=f"{name} ({value:.3f})")
    axes.set_yticks(range(len(shown)), labels)
    axes.invert_yaxis()
    axes.set_xlim(*UNIT_LIMITS)
    axes.set_xlabel(key.replace("_", " "))
    axes.set_title(title)
    if lines:
        figure.legend(loc="outside lower center", fontsize="small")
    return figure


def _alpha_panel(pyplot: Any, disclosure: list[dict[str, Any]], theory: dict[str, Any]) -> Any:
    figure, axes = pyplot.subplots(figsize=(8.5, 4.5), layout="constrained")
    for mode, values in theory.items():
        if mode not in ("alpha", "source"):
            axes.plot(theory["alpha"], values, label=f"theory: {mode}")
    for row in disclosure:
        if row["efficiency"] is None:
            continue
        low, high = row["alpha_ci"]
        eff_low, eff_high = row["efficiency_ci"] or (row["efficiency"], row["efficiency"])
        axes.errorbar(
            row["alpha"],
            row["efficiency"],
            xerr=spread(row["alpha"], (low, high)),
            yerr=spread(row["efficiency"], (eff_low, eff_high)),
            fmt="o",
            capsize=3,
            label=f"{row['condition']} · {row['row']}",
        )
    axes.set_xlabel("disclosure rate α")
    axes.set_ylabel("efficiency")
    axes.set_xlim(*UNIT_LIMITS)
    axes.set_title("Efficiency against the disclosure rate")
    figure.legend(loc="outside right upper", fontsize="small")  # beside the axes: it hides no row's point
    return figure


def experiment_figures(data: dict[str, Any]) -> dict[str, Any]:
    """File name -> figure: trade rate and efficiency per row, and efficiency against α for disclosure runs."""
    pyplot = headless_pyplot()
    lines = {f"{name}, prior": value for name, value in data["theory"].items()}
    baseline = next(
        (r for r in data["rows"] if r["row_kind"] == "mechanism" and r["row"] == data["baseline"]), None
    )
    if baseline is not None and baseline["efficiency"] is not None:
        lines[f"baseline {baseline['row']}, these draws"] = baseline["efficiency"]
    figures = {
        "trade_rate.png": _row_panel(pyplot, data["rows"], "trade_rate", "Trade rate (Wilson 95%)", {}),
        "efficiency.png": _row_panel(pyplot, data["rows"], "efficiency", "Efficiency (bootstrap 95%)", lines),
    }
    if data["disclosure"]:
        figures["disclosure_alpha.png"] = _alpha_panel(pyplot, data["disclosure"], data["alpha_theory"])
    return figures


def write_plots(data: dict[str, Any], out_dir: Path) -> list[Path]:
    pyplot = headless_pyplot()
    paths = []
    for name, figure in experiment_figures(data).items():
        figure.savefig(out_dir / name, dpi=110)
        pyplot.close(figure)
        paths.append(out_dir / name)
    return paths
