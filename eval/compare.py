"""`haggle eval compare`: differences between eval runs (base vs SFT vs GRPO, or many models) on the scenarios
they all played, per opponent × the model's role × tier, with the tests those shapes call for.

Episodes are matched by (opponent, role, scenario_id), and only scenarios every run finished count, so each test
sees the same deals in every run. For each pair of runs (A listed before B; differences are B − A):
- deal rate: the exact McNemar test on the paired outcomes, plus Fisher's exact and the two-proportion z test
  (which ignore the pairing; kept because readers compare against published unpaired numbers);
- surplus share of the model's side (no deal = 0, over scenarios with gains): a paired bootstrap 95% interval of
  the mean difference and a sign-flip permutation test.
With more than two runs, a Pearson χ² test of equal deal rates across all of them. Every p-value shown is also
given Holm-adjusted over all the tests in the comparison, the family a reader scans at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from haggle.env.metrics import Played
from haggle.env.scenario import ROLES, Role
from haggle.eval import stats
from haggle.eval.eval_report import by_tier, played_of
from haggle.eval.eval_run import FIXED_SETTINGS, EvalRun, load_run
from haggle.eval.formatting import ci, num, p_value, table

COMPARE_SCHEMA = "haggle.eval_compare/1"
PERMUTATIONS = 9999


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


def _arrays(played: Sequence[Played], role: Role) -> tuple[np.ndarray, np.ndarray]:
    """Deals (0/1), and the model's share of the gains (no deal = 0; NaN where there were no gains)."""
    deals = np.array([outcome.deal for _, outcome in played], dtype=int)
    shares = [outcome.surplus_share(role) for _, outcome in played]
    return deals, np.array([np.nan if share is None else share for share in shares], dtype=float)


def _pair(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], resamples: int
) -> dict[str, Any]:
    (deals_a, shares_a), (deals_b, shares_b) = a, b
    n = len(deals_a)
    fisher = stats.fisher_exact(
        [[int(deals_b.sum()), n - int(deals_b.sum())], [int(deals_a.sum()), n - int(deals_a.sum())]]
    )
    z = stats.two_proportion_z_test(int(deals_b.sum()), n, int(deals_a.sum()), n)
    only_a, only_b = (
        int(((deals_a == 1) & (deals_b == 0)).sum()),
        int(((deals_b == 1) & (deals_a == 0)).sum()),
    )
    mcnemar = stats.mcnemar_exact(only_a, only_b)
    result = {
        "deal_rate_diff": float(deals_b.mean() - deals_a.mean()),
        "discordant": mcnemar.n,
        "mcnemar_p": mcnemar.p_value,
        "fisher_p": fisher.p_value,
        "z": z.statistic,
        "z_p": z.p_value,
        "share_scenarios": 0,
        "surplus_share_diff": None,
        "surplus_share_diff_ci": None,
        "permutation_p": None,
    }
    gains = ~np.isnan(shares_a)
    if gains.any():
        interval = stats.paired_bootstrap(shares_b[gains], shares_a[gains], resamples=resamples)
        permutation = stats.paired_permutation_test(shares_b[gains], shares_a[gains], resamples=PERMUTATIONS)
        result |= {
            "share_scenarios": int(gains.sum()),
            "surplus_share_diff": interval.estimate,
            "surplus_share_diff_ci": [interval.low, interval.high],
            "permutation_p": permutation.p_value,
        }
    return result


def _homogeneity(arrays: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any] | None:
    """χ² of equal deal rates across the runs; None when every run had the same outcome on every scenario."""
    deals = [int(d.sum()) for d, _ in arrays]
    trials = [len(d) for d, _ in arrays]
    if sum(deals) in (0, sum(trials)):
        return None
    test = stats.chi2_homogeneity(deals, trials)
    return {"chi2": test.statistic, "dof": test.dof, "p": test.p_value}


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
        rows.append(
            {
                "opponent": opponent,
                "role": role,
                "tier": tier,
                "scenarios": len(ids),
                "runs": {
                    label: {
                        "deals": int(deals.sum()),
                        "deal_rate": float(deals.mean()),
                        "surplus_share": float(np.nanmean(shares)) if (~np.isnan(shares)).any() else None,
                    }
                    for label, (deals, shares) in zip(labels, arrays, strict=True)
                },
                "pairs": [
                    {"a": labels[i], "b": labels[j]} | _pair(arrays[i], arrays[j], resamples)
                    for i, j in combinations(range(len(runs)), 2)
                ],
                "homogeneity": _homogeneity(arrays) if len(runs) > 2 else None,
            }
        )
    return rows


def _with_holm(rows: list[dict[str, Any]]) -> int:
    """Add `<test>_holm` beside every p-value, adjusted over all of them; returns the family's size."""
    slots = []
    for row in rows:
        slots += [
            (pair, key) for pair in row["pairs"] for key in ("mcnemar_p", "fisher_p", "z_p", "permutation_p")
        ]
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
        "runs": [
            {"label": label, "run_dir": str(run.run_dir), "model": run.config.model.to_dict()}
            for label, run in zip(labels, runs, strict=True)
        ],
        "tests": tests,
        "rows": rows,
    }


# -- markdown ---------------------------------------------------------------------------------------------------
def _with_adjusted(p: float | None, adjusted: float | None) -> str:
    return "–" if p is None else f"{p_value(p)} ({p_value(adjusted)})"


def format_markdown(data: dict[str, Any]) -> str:
    runs = ", ".join(f"`{run['label']}` ({run['model']['name']})" for run in data["runs"])
    parts = [
        "# Eval comparison",
        f"Runs: {runs}. Differences are B − A on the scenarios every run finished (n); role is the model's. "
        "Deal rates: exact McNemar on the paired outcomes, Fisher's exact and two-proportion z tests; the model's surplus share (no deal = 0, over "
        "scenarios with gains): paired bootstrap 95% interval and sign-flip permutation test. p-values with "
        f"their Holm adjustment over all {data['tests']} tests in brackets.",
        table(
            ["opponent", "role", "tier", "n", "A", "B", "deal rate A → B", "McNemar p (Holm)", "Fisher p (Holm)",
             "z p (Holm)",
             "Δ share [95%]", "permutation p (Holm)"],
            [
                [row["opponent"], row["role"], row["tier"], str(row["scenarios"]), pair["a"], pair["b"],
                 f"{num(row['runs'][pair['a']]['deal_rate'])} → {num(row['runs'][pair['b']]['deal_rate'])}",
                 _with_adjusted(pair["mcnemar_p"], pair["mcnemar_p_holm"]),
                 _with_adjusted(pair["fisher_p"], pair["fisher_p_holm"]),
                 _with_adjusted(pair["z_p"], pair["z_p_holm"]),
                 ci(pair["surplus_share_diff"], pair["surplus_share_diff_ci"]),
                 _with_adjusted(pair["permutation_p"], pair["permutation_p_holm"])]
                for row in data["rows"]
                for pair in row["pairs"]
            ],
        ),
    ]  # fmt: skip
    if len(data["runs"]) > 2:
        parts += [
            "## Homogeneity of deal rates across all runs (Pearson χ²)",
            table(
                ["opponent", "role", "tier", "n", "χ²", "dof", "p (Holm)"],
                [
                    [row["opponent"], row["role"], row["tier"], str(row["scenarios"]), num(h["chi2"], 2),
                     str(h["dof"]), _with_adjusted(h["p"], h["p_holm"])]
                    if (h := row["homogeneity"])
                    else [row["opponent"], row["role"], row["tier"], str(row["scenarios"]), "–", "–",
                          "– (the same outcome everywhere)"]
                    for row in data["rows"]
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
