"""The numbers of an experiment report, computed from stored episode records (no plotting, no I/O).

Rows are (condition, row) pairs: a model in one condition, or a mechanism. Efficiency pools episodes as realised
over available gains, both in units of each scenario's prior width (so tiers of any scale can be pooled); its
intervals come from resampling episodes, and differences between two rows from resampling the scenarios both
played (paired), which is what makes model-vs-model and condition-vs-condition comparisons sharp.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from haggle.env.metrics import pooled_efficiency
from haggle.env.outcome import Outcome, normalised_gains
from haggle.env.scenario import Scenario
from haggle.eval import stats

Record = Mapping[str, Any]
Interval = tuple[float, float]
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Episodes:
    """One row's episodes as arrays, in scenario order: what every statistic below is computed from."""

    scenario_ids: list[str]
    deal: np.ndarray  # 0/1
    realised: np.ndarray  # realised gains / prior width
    available: np.ndarray  # available gains / prior width
    seller_share: np.ndarray  # seller surplus / available gains, NaN without gains (no deal = 0)
    rounds: np.ndarray

    @classmethod
    def from_records(cls, records: Sequence[Record]) -> Episodes:
        records = sorted(records, key=lambda r: r["scenario"]["scenario_id"])
        gains, shares, rounds = [], [], []
        for record in records:
            scenario, outcome = Scenario.from_dict(record["scenario"]), Outcome.from_dict(record["outcome"])
            gains.append(normalised_gains(outcome, scenario))
            share = outcome.surplus_share("seller")
            shares.append(np.nan if share is None else share)
            rounds.append(outcome.rounds)
        pairs = np.array(gains, dtype=float).reshape(-1, 2)
        return cls(
            [r["scenario"]["scenario_id"] for r in records],
            np.array([bool(r["outcome"]["deal"]) for r in records], dtype=int),
            pairs[:, 0],
            pairs[:, 1],
            np.array(shares, dtype=float),
            np.array(rounds, dtype=float),
        )

    def __len__(self) -> int:
        return len(self.scenario_ids)

    def subset(self, ids: Sequence[str]) -> Episodes:
        index = {scenario_id: i for i, scenario_id in enumerate(self.scenario_ids)}
        take = np.array([index[i] for i in ids], dtype=int)
        return Episodes(
            list(ids),
            self.deal[take],
            self.realised[take],
            self.available[take],
            self.seller_share[take],
            self.rounds[take],
        )


def _bootstrap(
    columns: np.ndarray, statistic: Any, seed: int, bounds: tuple[float, float] | None = None
) -> Interval:
    """Percentile interval of `statistic` over resampled rows (scenarios), each row's columns kept together;
    `bounds` keeps it from collapsing to a point when every scenario sits at one (see `stats.bootstrap_ci`)."""
    interval = stats.bootstrap_ci(columns, statistic, resamples=BOOTSTRAP_RESAMPLES, seed=seed, bounds=bounds)
    return interval.low, interval.high


def _pooled_efficiency(rows: np.ndarray) -> float:
    return pooled_efficiency(rows[:, 0], rows[:, 1])


def _pair_of(interval: stats.Interval) -> Interval:
    return interval.low, interval.high


def _none_if_nan(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


@dataclass(frozen=True)
class RowStats:
    condition: str
    row: str
    row_kind: str  # "agent" or "mechanism"
    episodes: int
    deals: int
    trade_rate: float
    trade_rate_ci: Interval
    efficiency: float | None
    efficiency_ci: Interval | None
    seller_share: float | None  # mean seller share of the gains among deals that had gains
    buyer_share: float | None
    mean_rounds_to_deal: float | None


def row_stats(condition: str, row: str, row_kind: str, episodes: Episodes, seed: int = 0) -> RowStats:
    deals, count = int(episodes.deal.sum()), len(episodes)
    traded = episodes.deal.astype(bool) & ~np.isnan(episodes.seller_share)
    seller = _none_if_nan(float(episodes.seller_share[traded].mean())) if traded.any() else None
    return RowStats(
        condition=condition,
        row=row,
        row_kind=row_kind,
        episodes=count,
        deals=deals,
        trade_rate=deals / count,
        trade_rate_ci=_pair_of(stats.wilson_interval(deals, count)),
        efficiency=_none_if_nan(pooled_efficiency(episodes.realised, episodes.available)),
        efficiency_ci=(
            _bootstrap(
                np.column_stack([episodes.realised, episodes.available]), _pooled_efficiency, seed, (0.0, 1.0)
            )
            if episodes.available.sum() > 0
            else None
        ),
        seller_share=seller,
        buyer_share=None if seller is None else 1 - seller,
        mean_rounds_to_deal=float(episodes.rounds[episodes.deal == 1].mean()) if deals else None,
    )


@dataclass(frozen=True)
class Homogeneity:
    """Cochran's Q test that the models of one condition share one trade rate. They play the same scenarios, so
    the outcomes are paired: Pearson's χ² would treat them as independent samples and lose the pairing."""

    condition: str
    rows: list[str]
    scenarios: int  # played by every row: the pairs the test uses
    q: float | None
    dof: int
    p_value: float | None  # χ² approximation with dof = rows - 1 (McNemar's χ² for two rows)


def homogeneity(condition: str, rows: Mapping[str, Episodes]) -> Homogeneity:
    names = list(rows)
    shared = sorted(set.intersection(*(set(sample.scenario_ids) for sample in rows.values()))) if rows else []
    if len(rows) < 2 or not shared:
        return Homogeneity(condition, names, len(shared), None, len(rows) - 1, None)
    result = stats.cochran_q(np.column_stack([rows[name].subset(shared).deal for name in names]))
    return Homogeneity(condition, names, len(shared), result.statistic, len(rows) - 1, result.p_value)


@dataclass(frozen=True)
class PairedComparison:
    """Row `a` against row `b` on the scenarios both played: differences a - b with their uncertainty."""

    a: str  # "condition/row"
    b: str
    scenarios: int
    trade_rate_diff: float
    discordant: int  # scenarios where exactly one of the two rows traded
    mcnemar_p: float  # exact McNemar on the paired trade outcomes
    mcnemar_p_holm: float | None
    efficiency_diff: float | None
    efficiency_diff_ci: Interval | None
    seller_share_diff: float | None  # unconditional (no deal = 0), over scenarios with gains
    seller_share_diff_ci: Interval | None


def paired_comparison(
    a_label: str, a: Episodes, b_label: str, b: Episodes, seed: int = 0
) -> PairedComparison | None:
    """None when the two rows share no scenario yet (a run still in progress)."""
    shared = sorted(set(a.scenario_ids) & set(b.scenario_ids))
    if not shared:
        return None
    a, b = a.subset(shared), b.subset(shared)
    only_a = int(((a.deal == 1) & (b.deal == 0)).sum())
    mcnemar = stats.mcnemar_exact(only_a, int(((b.deal == 1) & (a.deal == 0)).sum()))
    columns = np.column_stack([a.realised, a.available, b.realised, b.available])

    def efficiency_gap(rows: np.ndarray) -> float:
        return _pooled_efficiency(rows[:, :2]) - _pooled_efficiency(rows[:, 2:])

    has_gains = a.available > 0
    a_share, b_share = np.nan_to_num(a.seller_share)[has_gains], np.nan_to_num(b.seller_share)[has_gains]
    efficiency_diff = efficiency_gap(columns) if a.available.sum() > 0 else float("nan")
    share_diff = (
        stats.paired_bootstrap(a_share, b_share, resamples=BOOTSTRAP_RESAMPLES, seed=seed)
        if has_gains.any()
        else None
    )
    return PairedComparison(
        a=a_label,
        b=b_label,
        scenarios=len(shared),
        trade_rate_diff=float(a.deal.mean() - b.deal.mean()),
        discordant=mcnemar.n,
        mcnemar_p=mcnemar.p_value,
        mcnemar_p_holm=None,
        efficiency_diff=_none_if_nan(efficiency_diff),
        efficiency_diff_ci=_bootstrap(columns, efficiency_gap, seed)
        if not np.isnan(efficiency_diff)
        else None,
        seller_share_diff=share_diff.estimate if share_diff else None,
        seller_share_diff_ci=(share_diff.low, share_diff.high) if share_diff else None,
    )


def with_holm(comparisons: list[PairedComparison | None]) -> list[PairedComparison]:
    """Holm-adjust the McNemar p-values of comparisons that are read together (dropping those not made)."""
    made = [comparison for comparison in comparisons if comparison is not None]
    if not made:
        return []
    adjusted = stats.holm([c.mcnemar_p for c in made])
    return [replace(c, mcnemar_p_holm=p) for c, p in zip(made, adjusted, strict=True)]
