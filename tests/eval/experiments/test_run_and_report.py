"""Running presets with scripted agents into a run directory, resuming, and the report's tables and plots."""

import json
from pathlib import Path

import pytest
from haggle.data.episode_store import EpisodeStore
from haggle.eval import stats
from haggle.eval.experiments.experiment_config import ExperimentConfig, load_experiment
from haggle.eval.experiments.experiment_report import build_report, write_report
from haggle.eval.experiments.run import load_experiment_run, run_experiment

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HOTEL_PRESET = Path(__file__).resolve().parents[3] / "configs" / "experiments" / "hotel_b2b.yaml"


def preset(**changes) -> tuple[ExperimentConfig, dict]:
    mapping = {
        "name": "k5",
        "episodes": 30,
        "scenarios": {"tiers": [100], "max_rounds": 5, "first_mover": "random"},
        "models": [{"name": "linear"}, {"name": "hardliner", "params": {"margin": 0.3}}],
        "mechanisms": [{"name": "cs", "mechanism": "k_double_auction"}],
    } | changes
    return ExperimentConfig.from_mapping(mapping), mapping


def run(tmp_path: Path, **changes):
    config, mapping = preset(**changes)
    summary = run_experiment(config, mapping, tmp_path, progress=False)
    return config, summary, list(EpisodeStore(tmp_path).records())


def test_every_row_plays_the_same_scenarios_and_a_rerun_plays_nothing_new(tmp_path):
    config, summary, records = run(tmp_path)
    assert (summary.agent_episodes, summary.mechanism_episodes, summary.stored) == (60, 30, 90)
    by_row: dict[str, set[str]] = {}
    for record in records:
        by_row.setdefault(record["metadata"]["row"], set()).add(record["scenario"]["scenario_id"])
    assert len(by_row) == 3 and len({frozenset(ids) for ids in by_row.values()}) == 1
    written = stored_records(tmp_path)
    assert run(tmp_path)[1].stored == 90
    assert stored_records(tmp_path) == written  # the resume rewrote nothing
    # a larger sample extends the same paired scenarios
    assert run(tmp_path, episodes=40)[1].stored == 120


def stored_records(run_dir: Path) -> list[dict]:
    """Every stored episode as the store reads it back (the SQLite files' own mtimes move with checkpoints)."""
    with EpisodeStore(run_dir) as store:
        return sorted(store.records(), key=lambda record: record["episode_id"])


def test_a_run_directory_refuses_a_different_preset(tmp_path):
    run(tmp_path)
    assert json.loads((tmp_path / "run.json").read_text())["kind"] == "experiment"
    with pytest.raises(ValueError, match="different models"):
        run(tmp_path, models=[{"name": "boulware"}])


def test_a_run_directory_from_before_run_json_resumes_and_reads(tmp_path):
    config, _, records = run(tmp_path)
    (tmp_path / "run.json").unlink()  # what earlier versions wrote: experiment.json and the episodes
    with pytest.raises(ValueError, match="different models"):
        run(tmp_path, models=[{"name": "boulware"}])
    written = stored_records(tmp_path)
    assert run(tmp_path)[1].stored == 90
    assert stored_records(tmp_path) == written  # the resume rewrote nothing
    (tmp_path / "run.json").unlink()
    read_config, grouped = load_experiment_run(tmp_path)
    assert read_config == config and sum(len(episodes) for episodes in grouped.values()) == len(records)


def test_the_report_holds_rates_with_intervals_efficiency_and_homogeneity(tmp_path):
    run(tmp_path, episodes=60)
    report = write_report(tmp_path)
    rows = {row["row"]: row for row in report.data["rows"]}
    assert set(rows) == {"linear", "hardliner", "cs"}
    for row in rows.values():
        low, high = row["trade_rate_ci"]
        assert low <= row["trade_rate"] <= high and row["episodes"] == 60
        assert row["deals"] == round(row["trade_rate"] * 60)
    # linear concedes to its reservation value by the deadline: every efficient trade happens, and 60 of 60
    # efficient scenarios support Wilson's [0.940, 1], not a collapsed [1, 1]
    assert rows["linear"]["efficiency"] == pytest.approx(1.0)
    assert rows["linear"]["efficiency_ci"] == pytest.approx(list(stats.wilson_interval(60, 60)))
    assert rows["hardliner"]["efficiency"] < rows["linear"]["efficiency"]
    assert rows["cs"]["row_kind"] == "mechanism"
    (test,) = report.data["homogeneity"]
    assert test["rows"] == ["linear", "hardliner"] and test["dof"] == 1 and test["scenarios"] == 60
    assert 0 <= test["p_value"] <= 1 and test["q"] >= 0
    markdown = (tmp_path / "report.md").read_text()
    for heading in ("Trade rate, efficiency and surplus split", "Homogeneity", "Chatterjee"):
        assert heading in markdown
    # theory is labelled as the prior's population value, with the mechanism played on these draws beside it
    assert "Theory on these scenarios" not in markdown
    assert "| population (the prior) |" in markdown
    assert f"| cs | these 60 draws | {rows['cs']['efficiency']:.3f} [" in markdown
    assert json.loads((tmp_path / "report.json").read_text())["schema"] == "haggle.experiment_report/1"
    for name in ("trade_rate.png", "efficiency.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC)


def test_condition_shifts_are_paired_and_holm_corrected(tmp_path):
    conditions = [
        {"name": "symmetric"},
        {"name": "seller_firm", "scripted_params": {"seller": {"exponent": 0.2}}},
        {"name": "seller_soft", "scripted_params": {"seller": {"exponent": 5.0}}},
    ]
    run(tmp_path, conditions=conditions, models=[{"name": "linear"}], mechanisms=[])
    report = build_report(tmp_path)
    shifts = {shift["a"]: shift for shift in report.data["condition_shifts"]}
    assert set(shifts) == {"seller_firm/linear", "seller_soft/linear"}
    firm, soft = shifts["seller_firm/linear"], shifts["seller_soft/linear"]
    assert firm["b"] == "symmetric/linear" and firm["scenarios"] == 30
    # a firmer seller takes more of the gains, a softer one less; trade itself does not change
    assert firm["seller_share_diff_ci"][0] > 0 > soft["seller_share_diff_ci"][1]
    assert firm["trade_rate_diff"] == 0 and firm["mcnemar_p"] == 1.0
    assert firm["mcnemar_p_holm"] >= firm["mcnemar_p"]
    assert "Conditions against `symmetric`" in report.markdown


def test_the_disclosure_report_measures_alpha_and_sits_beside_the_theory_curve(tmp_path):
    models = [
        {"name": "truthful", "strategy": "truthful_discloser"},
        {"name": "refuser", "strategy": "disclosure_refuser", "params": {"inner": "hardliner"}},
        {"name": "liar", "strategy": "shading_discloser", "params": {"shade": 0.1}},
    ]
    run(tmp_path, models=models, disclosure={"truthful_tolerance": 0.02})
    report = write_report(tmp_path)
    rows = {row["row"]: row for row in report.data["disclosure"]}
    assert (rows["truthful"]["alpha"], rows["refuser"]["alpha"], rows["liar"]["alpha"]) == (1.0, 0.0, 1.0)
    assert rows["truthful"]["truthful_share"] == 1.0 and rows["liar"]["truthful_share"] == 0.0
    assert rows["refuser"]["refused"] == rows["refuser"]["asked"] == 60
    assert rows["truthful"]["efficiency"] == pytest.approx(1.0)
    theory = rows["refuser"]["theory_at_alpha"]
    assert all(value == pytest.approx(27 / 32, abs=1e-6) for value in theory.values())
    assert all(value == pytest.approx(1.0) for value in rows["truthful"]["theory_at_alpha"].values())
    assert (tmp_path / "disclosure_alpha.png").read_bytes().startswith(PNG_MAGIC)
    assert "One-shot disclosure" in report.markdown


def test_plots_label_the_x_axis_keep_points_at_one_whole_and_legends_off_the_points(tmp_path):
    from haggle.eval.experiments.experiment_plots import experiment_figures

    models = [
        {"name": "truthful", "strategy": "truthful_discloser"},
        {"name": "refuser", "strategy": "disclosure_refuser", "params": {"inner": "hardliner"}},
    ]
    run(tmp_path, models=models, disclosure={"truthful_tolerance": 0.02})
    figures = experiment_figures(build_report(tmp_path).data)
    assert set(figures) == {"trade_rate.png", "efficiency.png", "disclosure_alpha.png"}
    for name, figure in figures.items():
        (axes,) = figure.axes
        assert axes.get_xlabel(), name
        low, high = axes.get_xlim()
        assert low <= -0.05 and high >= 1.05, name  # a marker at 0 or 1 (the truthful row's α) is not cut
        assert axes.get_legend() is None, name  # any legend is the figure's, outside the axes
    for name in ("efficiency.png", "disclosure_alpha.png"):
        assert figures[name].legends, name


def test_the_baseline_section_compares_every_agent_row_with_the_mechanism(tmp_path):
    mechanisms = [{"name": "posted", "mechanism": "posted_price", "params": {"rule": "seller_monopoly"}}]
    run(tmp_path, mechanisms=mechanisms, baseline="posted")
    report = build_report(tmp_path)
    comparisons = {c["a"]: c for c in report.data["against_baseline"]}
    assert set(comparisons) == {"symmetric/linear", "symmetric/hardliner"}
    assert comparisons["symmetric/linear"]["b"] == "mechanism/posted"
    assert comparisons["symmetric/linear"]["efficiency_diff"] > 0  # bargaining to the deadline beats one post
    assert "Against the `posted` baseline" in report.markdown
    # paired trade outcomes: exact McNemar on the scenarios where exactly one of the two traded (not Fisher)
    deals = _deals(tmp_path)
    posted = deals["posted"]
    for row in ("linear", "hardliner"):
        only_row = sum(deals[row][sid] and not posted[sid] for sid in posted)
        only_posted = sum(posted[sid] and not deals[row][sid] for sid in posted)
        comparison = comparisons[f"symmetric/{row}"]
        assert comparison["discordant"] == only_row + only_posted > 0
        assert comparison["mcnemar_p"] == pytest.approx(stats.mcnemar_exact(only_posted, only_row).p_value)
    assert "McNemar p" in report.markdown and "Fisher" not in report.markdown


def _deals(run_dir: Path) -> dict[str, dict[str, bool]]:
    """Each row's deal outcome per scenario id, read from the stored episodes."""
    deals: dict[str, dict[str, bool]] = {}
    for record in EpisodeStore(run_dir).records():
        deals.setdefault(record["metadata"]["row"], {})[record["scenario"]["scenario_id"]] = record[
            "outcome"
        ]["deal"]
    return deals


def test_the_hotel_preset_tests_against_the_studys_group_rate_posted_price(tmp_path):
    """The rack-rate quote trades on few blocks (efficiency ~0.31); the 30% group-rate quote reaches ~0.93, the
    study's posted-price baseline, and is the one every agent row is tested against."""
    config, mapping = load_experiment(HOTEL_PRESET)
    assert config.baseline == "group_rate_posted_price"
    mapping = mapping | {"episodes": 300, "models": [{"name": "linear"}]}
    config = ExperimentConfig.from_mapping(mapping)
    run_experiment(config, mapping, tmp_path, progress=False)
    data = build_report(tmp_path).data
    rows = {row["row"]: row for row in data["rows"]}
    assert rows["group_rate_posted_price"]["efficiency"] == pytest.approx(0.931, abs=0.03)
    assert rows["naive_posted_price"]["efficiency"] < 0.45
    assert {c["b"] for c in data["against_baseline"]} == {"mechanism/group_rate_posted_price"}


DISCLOSERS = [
    {"name": "truthful", "strategy": "truthful_discloser"},
    {"name": "refuser", "strategy": "disclosure_refuser"},
]


def test_alpha_curves_come_from_the_runs_own_draws_when_values_are_not_uniform(tmp_path):
    """A forced no-zone share reweights the square (no closed form), but the linear strategies the curves start
    from stay an equilibrium: Monte Carlo curves on the run's own draws."""
    models = DISCLOSERS
    scenarios = {"tiers": [100, 1000], "max_rounds": 5, "no_zone_share": 0.3}
    config, _, records = run(tmp_path, models=models, disclosure={}, scenarios=scenarios, mechanisms=[])
    data = build_report(tmp_path).data
    assert data["alpha_theory"]["source"].startswith("Monte Carlo") and data["theory"] == {}
    rows = {row["row"]: row for row in data["disclosure"]}
    assert all(value == pytest.approx(1.0) for value in rows["truthful"]["theory_at_alpha"].values())
    # at α = 0 every mode is Chatterjee–Samuelson play on these very draws: trade iff v - c >= a quarter width
    unit_gaps = [
        (r["scenario"]["buyer_value"] - r["scenario"]["seller_cost"])
        / (r["scenario"]["value_high"] - r["scenario"]["value_low"])
        for r in records
        if r["metadata"]["row"] == "refuser"
    ]
    second_best = sum(g for g in unit_gaps if g >= 0.25) / sum(g for g in unit_gaps if g > 0)
    assert rows["refuser"]["theory_at_alpha"]["binary"] == pytest.approx(second_best)


def test_no_alpha_curve_where_its_starting_point_is_no_equilibrium(tmp_path):
    """Correlated values: k = 1/2 double-auction play is no equilibrium of the prior (`haggle theory` shows no
    double-auction row there), so no curve that starts from it is shown, in the table or the plot."""
    from haggle.eval.experiments.experiment_plots import experiment_figures

    scenarios = {"tiers": [100, 1000], "max_rounds": 5, "value_model": "correlated"}
    run(tmp_path, models=DISCLOSERS, disclosure={}, scenarios=scenarios, mechanisms=[])
    report = build_report(tmp_path)
    assert report.data["alpha_theory"]["source"].startswith("not shown: the curves start at α = 0")
    assert all(row["theory_at_alpha"] == {} for row in report.data["disclosure"])
    assert "| theory (" not in report.markdown and "not shown" in report.markdown
    (axes,) = experiment_figures(report.data)["disclosure_alpha.png"].axes
    labels = axes.get_legend_handles_labels()[1]
    assert labels and not any(label.startswith("theory") for label in labels)
