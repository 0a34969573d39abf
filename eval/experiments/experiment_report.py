"""`haggle experiment report RUN_DIR`: the paper's tables as markdown and JSON, plus PNG plots.

Sections appear when the preset calls for them: every preset gets trade rate (Wilson 95%), efficiency (bootstrap
95%) and surplus split per row, and Cochran's Q test of equal trade rates across the models of each condition (paired: the same scenarios); several
conditions add each condition's shift against the first one on paired scenarios (exact McNemar on the paired trade
outcomes, Holm-corrected over the shifts); a `baseline` adds every model against that mechanism row (its own Holm
family); a disclosure phase adds α, truthfulness and refusals beside the theory module's efficiency curve in α.
Theory values are population values for the scenarios' prior, and are printed beside the mechanism rows played
on the run's own draws, which are what the agent rows can be compared with. docs/metrics.md defines every number.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from haggle.eval.experiments import experiment_plots
from haggle.eval.experiments.disclosure import count_disclosures, disclosure_rate
from haggle.eval.experiments.experiment_config import ExperimentConfig
from haggle.eval.experiments.run import MECHANISM_CONDITION, experiment_scenarios, load_experiment_run
from haggle.eval.experiments.tables import (
    Episodes,
    RowStats,
    homogeneity,
    paired_comparison,
    row_stats,
    with_holm,
)
from haggle.eval.formatting import ci, num, p_value, table
from haggle.eval.references import AlphaTheory, reference_efficiencies

REPORT_SCHEMA = "haggle.experiment_report/1"


@dataclass
class Report:
    data: dict[str, Any]  # what report.json holds
    markdown: str
    plots: list[Path] = field(default_factory=list)


def build_report(run_dir: Path) -> Report:
    config, grouped = load_experiment_run(run_dir)
    episodes = {key: Episodes.from_records(records) for key, records in grouped.items()}
    rows = [
        row_stats(
            condition, row, "mechanism" if condition == MECHANISM_CONDITION else "agent", sample, seed=i
        )
        for i, ((condition, row), sample) in enumerate(episodes.items())
    ]
    homogeneity_tests = [
        homogeneity(
            c.name, {m.name: episodes[c.name, m.name] for m in config.models if (c.name, m.name) in episodes}
        )
        for c in config.conditions
    ]
    reference = config.reference_condition
    shifts = with_holm(
        [
            paired_comparison(f"{c}/{m}", episodes[c, m], f"{reference}/{m}", episodes[reference, m])
            for c in [condition.name for condition in config.conditions[1:]]
            for m in [model.name for model in config.models]
            if (c, m) in episodes and (reference, m) in episodes
        ]
    )
    baseline_key = (MECHANISM_CONDITION, config.baseline or "")
    against_baseline = with_holm(
        [
            paired_comparison(
                f"{c}/{row}", sample, f"{MECHANISM_CONDITION}/{config.baseline}", episodes[baseline_key]
            )
            for (c, row), sample in episodes.items()
            if c != MECHANISM_CONDITION and baseline_key in episodes
        ]
    )
    alpha_theory = AlphaTheory(config.scenarios, experiment_scenarios(config))
    disclosure = _disclosure_rows(config, grouped, rows, alpha_theory) if config.disclosure else []
    references = reference_efficiencies(config.scenarios)
    data = {
        "schema": REPORT_SCHEMA,
        "experiment": config.name,
        "description": config.description,
        "reference_condition": reference,
        "baseline": config.baseline,
        "rows": [asdict(row) for row in rows],
        "homogeneity": [asdict(test) for test in homogeneity_tests],
        "condition_shifts": [asdict(shift) for shift in shifts],
        "against_baseline": [asdict(comparison) for comparison in against_baseline],
        "disclosure": disclosure,
        "alpha_theory": {"source": alpha_theory.source, **alpha_theory.curves()} if disclosure else None,
        "theory": references,
    }
    return Report(data, _markdown(data))


def _disclosure_rows(
    config: ExperimentConfig,
    grouped: dict[tuple[str, str], list[dict[str, Any]]],
    rows: list[RowStats],
    alpha_theory: AlphaTheory,
) -> list[dict[str, Any]]:
    assert config.disclosure is not None
    stats_by_key = {(row.condition, row.row): row for row in rows}
    table = []
    for key, records in grouped.items():
        if key[0] == MECHANISM_CONDITION:
            continue
        counts = count_disclosures(records, config.disclosure.truthful_tolerance)
        alpha = disclosure_rate(records)
        table.append(
            {
                "condition": key[0],
                "row": key[1],
                **asdict(counts),
                "alpha": alpha.estimate,
                "alpha_ci": list(alpha),
                "truthful_share": counts.truthful / counts.disclosed if counts.disclosed else None,
                "efficiency": stats_by_key[key].efficiency,
                "efficiency_ci": stats_by_key[key].efficiency_ci,
                "theory_at_alpha": alpha_theory.at(alpha.estimate),
            }
        )
    return table


# -- markdown ---------------------------------------------------------------------------------------------------
def _comparison_table(comparisons: list[dict[str, Any]]) -> str:
    return table(
        ["row", "against", "scenarios", "Δ trade rate", "McNemar p", "Holm p", "Δ efficiency [95%]",
         "Δ seller share [95%]"],
        [
            [c["a"], c["b"], str(c["scenarios"]), f"{c['trade_rate_diff']:+.3f}", p_value(c["mcnemar_p"]),
             p_value(c["mcnemar_p_holm"]), ci(c["efficiency_diff"], c["efficiency_diff_ci"]),
             ci(c["seller_share_diff"], c["seller_share_diff_ci"])]
            for c in comparisons
        ],
    )  # fmt: skip


def _markdown(data: dict[str, Any]) -> str:
    parts = [f"# Experiment: {data['experiment']}", data["description"] or ""]
    parts += [
        "## Trade rate, efficiency and surplus split",
        "Trade rate with a Wilson 95% interval; efficiency (realised over available gains from trade) with a "
        "bootstrap 95% interval; the seller's share of the gains among deals.",
        table(
            ["condition", "row", "kind", "n", "deals", "trade rate [95%]", "efficiency [95%]", "seller share",
             "rounds to deal"],
            [
                [r["condition"], r["row"], r["row_kind"], str(r["episodes"]), str(r["deals"]),
                 ci(r["trade_rate"], r["trade_rate_ci"]), ci(r["efficiency"], r["efficiency_ci"]),
                 num(r["seller_share"]), num(r["mean_rounds_to_deal"], 2)]
                for r in data["rows"]
            ],
        ),
    ]  # fmt: skip
    parts.append(_references(data))
    parts += [
        "## Homogeneity of trade rates across models (Cochran's Q on the shared scenarios, χ² approximation)",
        table(
            ["condition", "models", "scenarios", "Q", "dof", "p"],
            [
                [
                    t["condition"],
                    ", ".join(t["rows"]),
                    str(t["scenarios"]),
                    num(t["q"], 2),
                    str(t["dof"]),
                    p_value(t["p_value"]),
                ]
                for t in data["homogeneity"]
            ],
        ),
    ]
    if data["condition_shifts"]:
        parts += [
            f"## Conditions against `{data['reference_condition']}` (paired scenarios)",
            "Differences are condition minus reference; Δ efficiency and Δ seller share (unconditional, no deal = "
            "0) with paired bootstrap 95% intervals; exact McNemar test on the paired trade outcomes, "
            "Holm-corrected over this table.",
            _comparison_table(data["condition_shifts"]),
        ]
    if data["against_baseline"]:
        parts += [
            f"## Against the `{data['baseline']}` baseline (same scenarios)",
            "A row beats the baseline when its Δ efficiency interval lies above zero; trade rates by exact McNemar "
            "on the paired outcomes, Holm-corrected over this table.",
            _comparison_table(data["against_baseline"]),
        ]
    if data["disclosure"]:
        parts += [
            "## One-shot disclosure",
            "α = share of sides that disclosed when asked (95% interval resampling dialogues, whose two sides are "
            "not independent; Wilson on the dialogues at 0 or 1); truthful = stated within the tolerance of "
            "the true value; self-serving = shaded in the discloser's favour; the theory columns give the "
            f"efficiency each behavioural mode predicts at the measured α ({data['alpha_theory']['source']}).",
            table(
                ["condition", "row", "asked", "α [95%]", "truthful", "self-serving", "mean abs. misstatement",
                 "refused", "no answer", "efficiency [95%]", *[f"theory ({m})" for m in _modes(data)]],
                [
                    [d["condition"], d["row"], str(d["asked"]), ci(d["alpha"], d["alpha_ci"]),
                     f"{d['truthful']}/{d['disclosed']}", str(d["self_serving"]), num(d["mean_abs_misstatement"]),
                     str(d["refused"]), str(d["no_answer"]), ci(d["efficiency"], d["efficiency_ci"]),
                     *[num(d["theory_at_alpha"][m]) for m in _modes(data)]]
                    for d in data["disclosure"]
                ],
            ),
        ]  # fmt: skip
    plotted = data.get("plots") or []
    if plotted:
        parts += ["## Plots", *[f"![{name}]({name})" for name in plotted]]
    return "\n\n".join(part for part in parts if part) + "\n"


def _references(data: dict[str, Any]) -> str:
    """Theory (population values for the prior) beside the mechanisms played on this run's very draws: only the
    latter share the agent rows' sampling noise, so a row is compared with those, the theory is context."""
    lines = [[name, "population (the prior)", num(value)] for name, value in data["theory"].items()]
    lines += [
        [row["row"], f"these {row['episodes']} draws", ci(row["efficiency"], row["efficiency_ci"])]
        for row in data["rows"]
        if row["row_kind"] == "mechanism"
    ]
    if not lines:
        return ""
    return "\n\n".join(
        [
            "### Efficiency references",
            "Theory rows are population values for the prior the scenarios are drawn from, not values on these "
            "draws; the mechanism rows were played on the same scenarios as the agents.",
            table(["reference", "computed on", "efficiency [95%]"], lines),
        ]
    )


def _modes(data: dict[str, Any]) -> list[str]:
    return list(data["disclosure"][0]["theory_at_alpha"]) if data["disclosure"] else []


def write_report(run_dir: Path) -> Report:
    """Build the report and write report.md, report.json and the plots into the run directory."""
    report = build_report(run_dir)
    report.plots = experiment_plots.write_plots(report.data, run_dir)
    report.data["plots"] = [path.name for path in report.plots]
    report.markdown = _markdown(report.data)
    (run_dir / "report.json").write_text(json.dumps(report.data, indent=2), encoding="utf-8")
    (run_dir / "report.md").write_text(report.markdown, encoding="utf-8")
    return report
