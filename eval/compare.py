"""`haggle eval compare`: differences between eval runs (base vs SFT vs GRPO, or many models) on the scenarios
they all played, per opponent × the model's role × tier, with the tests those shapes call for.

Episodes are matched by (opponent, role, scenario_id), and only scenarios every run finished count, so each test
sees the same deals in every run. For each pair of runs (A listed before B; differences are B − A), one test per
hypothesis, each the one the paired shape calls for:
- deal rate: the exact McNemar test on the paired outcomes;
- surplus share of the model's side (no deal = 0, over scenarios with gains): a paired bootstrap 95% interval of
  the mean difference and a sign-flip permutation test, exact (all 2^n sign patterns) up to 40 pairs;
- beside it, untested: the difference in the pooled share of gains (`env.metrics.pooled_share`), which has no
  heavy tail, with a paired bootstrap 95% interval.
With more than two runs, Cochran's Q test of equal deal rates across all of them. The family Holm corrects over is
declared before any data is seen (`FAMILY`, printed with the table): every test on the tier rows; the "all" rows
repeat them and are shown without tests, and rows too small for any test to reject say "n too small".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from haggle.env.metrics import Played, pooled_efficiency, share_rows
from haggle.env.scenario import ROLES, Role
from haggle.eval import stats
from haggle.eval.eval_report import by_tier, played_of, pooled_ratio_ci
from haggle.eval.eval_run import FIXED_SETTINGS, EvalRun, load_run
from haggle.eval.formatting import ci, num, p_value, table
from haggle.eval.references import ALL_TIERS

COMPARE_SCHEMA = "haggle.eval_compare/2"
# Fewer scenarios than this (with gains, for shares) cannot make a two-sided test reach p < 0.05 (the sign-flip
# test's smallest p is 2/2^n): such rows show estimates and "n too small", and stay out of the family.
MIN_SCENARIOS = 6
NOTE_TOO_SMALL = "n too small"
NOTE_REPEATS_TIERS = "not tested: repeats the tier rows"
FAMILY = (
    f"one test per hypothesis on every tier row with at least {MIN_SCENARIOS} scenarios: for each pair of runs, "
    "exact McNemar on the paired deals and the sign-flip permutation test on the paired surplus shares; with more "
    "than two runs, Cochran's Q of equal deal rates. The 'all' rows repeat the tier rows and are not tested"
)


def run_labels(run_dirs: Sequence[Path]) -> list[str]:
    """Each run's directory name, or its whole path where two names coincide."""
    names = [path.name for path in run_dirs]
    return [name if names.count(name) == 1 else str(path) for name, path in zip(names, run_dirs, strict=True)]


def _check_paired(runs: Sequence[EvalRun]) -> None:
    first = runs[0].config.to_dict()
    for run in runs[1:]:
        current = run.config.to_dict()
        changed = [key for key in FIXED_SETTINGS if json.dumps(current[key]) != json.dumps(first[key])]
        if changed:
            raise ValueError(
                f"{run.run_dir} and {runs[0].run_dir} differ in {', '.join(changed)}: they did not play the same "
                "scenarios, so there is nothing to pair. Evaluate both with the same config and seed"
            )


class RunArrays(NamedTuple):
    """One run's paired episodes on a row, in scenario order."""

    deals: np.ndarray  # 0/1
    shares: np.ndarray  # the model's share of the gains, no deal = 0; NaN where there were no gains
    surplus: np.ndarray  # the model's discounted surplus, in prior widths (a loss counts)
    available: np.ndarray  # the gains there were, in prior widths


def _arrays(played: Sequence[Played], role: Role) -> RunArrays:
    deals = np.array([outcome.deal for _, outcome in played], dtype=int)
    shares = [outcome.surplus_share(role) for _, outcome in played]
    rows = share_rows((scenario, outcome, role) for scenario, outcome in played)
    return RunArrays(
        deals,
        np.array([np.nan if share is None else share for share in shares], dtype=float),
        rows[:, 0],
        rows[:, 1],
    )


def _pooled_difference(a: RunArrays, b: RunArrays, resamples: int) -> tuple[float | None, list[float] | None]:
    """Σ (surplus B − surplus A) / Σ gains on the same scenarios: B − A in the pooled share of gains, with a paired
    bootstrap over scenarios (each resample keeps a scenario's A, B and gains together)."""
    gains = a.available.sum()
    if gains <= 0:
        return None, None
    difference = float((b.surplus - a.surplus).sum() / gains)
    if (a.available > 0).sum() < MIN_SCENARIOS:
        return difference, None
    rows = np.column_stack([b.surplus - a.surplus, a.available])
    return difference, pooled_ratio_ci(rows, resamples, seed=0, bounds=None)


def _pair(a: RunArrays, b: RunArrays, resamples: int, tested: bool) -> dict[str, Any]:
    """B − A on one row; p-values only where the row is `tested` and big enough, else a note says why not."""
    (deals_a, shares_a, _, _), (deals_b, shares_b, _, _) = a, b
    gains = ~np.isnan(shares_a)
    only_a = int(((deals_a == 1) & (deals_b == 0)).sum())
    only_b = int(((deals_b == 1) & (deals_a == 0)).sum())
    pooled, pooled_ci = _pooled_difference(a, b, resamples)
    result: dict[str, Any] = {
        "deal_rate_diff": float(deals_b.mean() - deals_a.mean()),
        "discordant": only_a + only_b,
        "mcnemar_p": None,
        "share_scenarios": int(gains.sum()),
        "surplus_share_diff": float(np.mean(shares_b[gains] - shares_a[gains])) if gains.any() else None,
        "surplus_share_diff_ci": None,
        "share_of_gains_diff": pooled,  # descriptive: outside the tested family
        "share_of_gains_diff_ci": pooled_ci,
        "permutation_p": None,
        "permutation_method": None,
        "deal_note": _untested(len(deals_a), tested),
        "share_note": _untested(int(gains.sum()), tested),
    }
    if len(deals_a) >= MIN_SCENARIOS and tested:
        result["mcnemar_p"] = stats.mcnemar_exact(only_a, only_b).p_value
    if gains.sum() >= MIN_SCENARIOS:
        interval = stats.paired_bootstrap(shares_b[gains], shares_a[gains], resamples=resamples)
        result["surplus_share_diff_ci"] = [interval.low, interval.high]
        if tested:
            permutation = stats.paired_permutation_test(shares_b[gains], shares_a[gains])
            result |= {"permutation_p": permutation.p_value, "permutation_method": permutation.method}
    return result


def _untested(n: int, tested: bool) -> str | None:
    if n < MIN_SCENARIOS:
        return NOTE_TOO_SMALL
    return None if tested else NOTE_REPEATS_TIERS


def _homogeneity(arrays: Sequence[RunArrays]) -> dict[str, Any]:
    """Cochran's Q of equal deal rates across all runs on the same scenarios (paired, unlike Pearson's χ²)."""
    deals = np.column_stack([run.deals for run in arrays])
    if len(deals) < MIN_SCENARIOS:
        return {"q": None, "dof": len(arrays) - 1, "p": None, "note": NOTE_TOO_SMALL}
    test = stats.cochran_q(deals)
    return {"q": test.statistic, "dof": test.dof, "p": test.p_value, "note": None}


def _cell(
    runs: Sequence[EvalRun], labels: list[str], opponent: str, role: Role, resamples: int
) -> list[dict[str, Any]]:
    """Every tier of one opponent × role, on the scenarios all runs finished."""
    by_run = [{p[0].scenario_id: p for p in played_of(run.records[(opponent, role)])} for run in runs]
    shared = [sid for sid in by_run[0] if all(sid in episodes for episodes in by_run[1:])]
    rows = []
    tiers = by_tier([by_run[0][sid] for sid in shared], runs[0].tier_names)
    for tier, group in tiers.items():
        ids = [p[0].scenario_id for p in group]
        arrays = [_arrays([episodes[sid] for sid in ids], role) for episodes in by_run]
        tested = tier != ALL_TIERS
        rows.append(
            {
                "opponent": opponent,
                "role": role,
                "tier": tier,
                "scenarios": len(ids),
                "tested": tested,
                "runs": {
                    label: {
                        "deals": int(run.deals.sum()),
                        "deal_rate": float(run.deals.mean()),
                        "surplus_share": float(np.nanmean(run.shares))
                        if (~np.isnan(run.shares)).any()
                        else None,
                        "share_of_gains": pooled_efficiency(run.surplus, run.available)
                        if run.available.sum() > 0
                        else None,
                    }
                    for label, run in zip(labels, arrays, strict=True)
                },
                "pairs": [
                    {"a": labels[i], "b": labels[j]} | _pair(arrays[i], arrays[j], resamples, tested)
                    for i, j in combinations(range(len(runs)), 2)
                ],
                "homogeneity": _homogeneity(arrays) if len(runs) > 2 and tested else None,
            }
        )
    return rows


def _with_holm(rows: list[dict[str, Any]]) -> int:
    """Add `<test>_holm` beside every p-value, adjusted over the family (every test made); returns its size."""
    slots = []
    for row in rows:
        slots += [(pair, key) for pair in row["pairs"] for key in ("mcnemar_p", "permutation_p")]
        slots += [(row["homogeneity"], "p")] if row["homogeneity"] else []
    for holder, key in slots:
        holder[f"{key}_holm"] = None
    tested = [(holder, key) for holder, key in slots if holder[key] is not None]
    if tested:
        adjusted = stats.holm([holder[key] for holder, key in tested])
        for (holder, key), value in zip(tested, adjusted, strict=True):
            holder[f"{key}_holm"] = value
    return len(tested)


def compare_runs(run_dirs: Sequence[Path]) -> dict[str, Any]:
    if len(run_dirs) < 2:
        raise ValueError("compare needs at least two eval run directories")
    runs = [load_run(Path(path)) for path in run_dirs]
    _check_paired(runs)
    labels = run_labels([run.run_dir for run in runs])
    opponents = [
        spec.name
        for spec in runs[0].config.opponents
        if all(spec.name in [o.name for o in run.config.opponents] for run in runs[1:])
    ]
    if not opponents:
        raise ValueError("the runs share no opponent: nothing to compare")
    resamples = runs[0].config.bootstrap_resamples
    rows = [
        row
        for opponent in opponents
        for role in ROLES
        for row in _cell(runs, labels, opponent, role, resamples)
    ]
    if not rows:
        raise ValueError("the runs share no finished scenario yet: finish the evals first")
    tests = _with_holm(rows)
    return {
        "schema": COMPARE_SCHEMA,
        "family": FAMILY,
        "runs": [
            {"label": label, "run_dir": str(run.run_dir), "model": run.config.model.to_dict()}
            for label, run in zip(labels, runs, strict=True)
        ],
        "tests": tests,
        "rows": rows,
    }


# -- markdown ---------------------------------------------------------------------------------------------------
def _with_adjusted(p: float | None, adjusted: float | None, note: str | None = None) -> str:
    return (note or "–") if p is None else f"{p_value(p)} ({p_value(adjusted)})"


def format_markdown(data: dict[str, Any]) -> str:
    runs = ", ".join(f"`{run['label']}` ({run['model']['name']})" for run in data["runs"])
    parts = [
        "# Eval comparison",
        f"Runs: {runs}. Differences are B − A on the scenarios every run finished (n); role is the model's. "
        "Deal rates: exact McNemar test on the paired outcomes; the model's surplus share (no deal = 0, over "
        "scenarios with gains): paired bootstrap 95% interval and sign-flip permutation test (exact up to 40 "
        "pairs, otherwise 100,000 random sign patterns). p-values with their Holm adjustment in brackets. "
        "Δ share of gains, pooled: B − A in the model's surplus summed over the gains there were (prior widths, a "
        "loss counts; free of the per-scenario share's heavy tail), paired bootstrap 95% over scenarios; "
        "descriptive, not in the tested family.",
        f"Holm family ({data['tests']} tests): {data['family']}.",
        table(
            ["opponent", "role", "tier", "n", "A", "B", "deal rate A → B", "McNemar p (Holm)", "Δ share [95%]",
             "permutation p (Holm)", "Δ share of gains, pooled [95%]"],
            [
                [row["opponent"], row["role"], row["tier"], str(row["scenarios"]), pair["a"], pair["b"],
                 f"{num(row['runs'][pair['a']]['deal_rate'])} → {num(row['runs'][pair['b']]['deal_rate'])}",
                 _with_adjusted(pair["mcnemar_p"], pair["mcnemar_p_holm"], pair["deal_note"]),
                 ci(pair["surplus_share_diff"], pair["surplus_share_diff_ci"]),
                 _with_adjusted(pair["permutation_p"], pair["permutation_p_holm"], pair["share_note"]),
                 ci(pair["share_of_gains_diff"], pair["share_of_gains_diff_ci"])]
                for row in data["rows"]
                for pair in row["pairs"]
            ],
        ),
    ]  # fmt: skip
    if len(data["runs"]) > 2:
        parts += [
            "## Equal deal rates across all runs (Cochran's Q, paired)",
            table(
                ["opponent", "role", "tier", "n", "Q", "dof", "p (Holm)"],
                [
                    [row["opponent"], row["role"], row["tier"], str(row["scenarios"]), num(h["q"], 2),
                     str(h["dof"]), _with_adjusted(h["p"], h["p_holm"], h["note"])]
                    for row in data["rows"]
                    if (h := row["homogeneity"])
                ],
            ),
        ]  # fmt: skip
    return "\n\n".join(parts) + "\n"


def write_compare(run_dirs: Sequence[Path], out_dir: Path | None) -> tuple[dict[str, Any], str]:
    """The comparison's data and markdown; compare.json and compare.md go to `out_dir` when one is given."""
    data = compare_runs(run_dirs)
    markdown = format_markdown(data)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "compare.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
        (out_dir / "compare.md").write_text(markdown, encoding="utf-8")
    return data, markdown
