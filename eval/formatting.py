"""Shared by every report: markdown cells and tables, and a headless pyplot (matplotlib is the `eval` extra)."""

from __future__ import annotations

from typing import Any


def num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def ci(value: float | None, interval: Any) -> str:
    """An estimate with its interval, e.g. `0.912 [0.850, 0.960]`."""
    if value is None:
        return "–"
    return f"{value:.3f}" if interval is None else f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def p_value(value: float | None) -> str:
    return "–" if value is None else (f"{value:.2g}" if value < 0.001 else f"{value:.3f}")


def table(header: list[str], lines: list[list[str]]) -> str:
    rows = [header, ["---"] * len(header), *lines]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in rows)


def headless_pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, so plots render on clusters without a display."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError("plots need matplotlib: pip install 'haggle[eval]'") from error
    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot


def spread(value: float, interval: Any) -> list[list[float]]:
    """Error-bar lengths; a percentile interval may sit a rounding error off its own estimate."""
    return [[max(value - interval[0], 0.0)], [max(interval[1] - value, 0.0)]]
