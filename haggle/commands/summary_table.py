"""Human-readable tables for the metric summaries `env.metrics` produces."""

from __future__ import annotations

from typing import Any


def _fmt(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:6.1%}" if percent else f"{value:6.3f}"


def format_summary(summary: dict[str, Any]) -> str:
    """One row per tier plus the overall row: deals, surplus shares, efficiency, rounds."""
    header = (
        f"{'tier':>8} {'episodes':>8} {'deal rate':>9} {'buyer sh':>8} {'seller sh':>9} {'efficiency':>10} "
        f"{'rounds':>6}"
    )
    rows = [header, "-" * len(header)]
    for name, metrics in [*summary.get("tiers", {}).items(), ("all", summary)]:
        rows.append(
            f"{name:>8} {metrics['episodes']:>8} {_fmt(metrics['deal_rate'], True):>9} "
            f"{_fmt(metrics['surplus_share']['buyer']):>8} {_fmt(metrics['surplus_share']['seller']):>9} "
            f"{_fmt(metrics['efficiency']):>10} {_fmt(metrics['mean_rounds_to_deal']):>6}"
        )
    return "\n".join(rows)
