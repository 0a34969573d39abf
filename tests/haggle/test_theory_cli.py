"""`haggle theory` as a user runs it."""

import json
from pathlib import Path

import pytest

from haggle.cli import main

SCENARIO_CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "scenarios"


def theory_command(capsys, *args):
    assert main(["theory", *args]) == 0
    return capsys.readouterr().out


@pytest.fixture
def uniform_config(tmp_path):
    path = tmp_path / "uniform.yaml"
    path.write_text("scenarios:\n  tiers: [100, 1000]\n  domains: [abstract]\n  value_model: uniform\n")
    return path


def test_theory_json_gives_each_tier_its_reference_points(capsys, uniform_config):
    args = ["--config", str(uniform_config), "--episodes", "1200", "--seed", "3", "--json"]
    output = theory_command(capsys, *args)
    report = json.loads(output)
    assert report["closed_forms_apply"] and set(report["tiers"]) == {"100", "1k"}
    tier = report["tiers"]["1k"]
    assert tier["draws"] == 600 and tier["units"] == "USD"
    assert tier["support"] == {"low": 500.0, "high": 1500.0}
    assert tier["uniform"]["chatterjee_samuelson"]["efficiency"] == pytest.approx(27 / 32)
    assert tier["uniform"]["chatterjee_samuelson"]["mean_gains"] == pytest.approx(1000 * 9 / 64)
    cs = tier["monte_carlo"]["chatterjee_samuelson"]
    assert cs["efficiency_ci"][0] < cs["efficiency"] < cs["efficiency_ci"][1]
    assert 0.75 < cs["efficiency"] < 0.95
    assert tier["monte_carlo"]["first_best"]["efficiency"] == 1.0
    assert 500 < tier["monte_carlo"]["best_posted_price"]["price"] < 1500
    alphas = {row["alpha"] for row in tier["disclosure"]}
    assert {0.0, 1.0} <= alphas
    assert theory_command(capsys, *args) == output  # same seed, same draws


def test_theory_table_and_per_draw_supports(capsys):
    table = theory_command(
        capsys, "--config", str(SCENARIO_CONFIGS / "default.yaml"), "--episodes", "250", "--k", "0.3"
    )
    assert (
        "k-double auction (linear eq.) k=0.3" in table
        and "second-best" in table
        and "disclosure α" in table
        and "tier 100k" in table
    )
    assert not table.lstrip().startswith("{")
    # catalogue items give every scenario its own support: money moves to prior widths
    report = json.loads(
        theory_command(
            capsys, "--config", str(SCENARIO_CONFIGS / "marketplace.yaml"), "--episodes", "200", "--json"
        )
    )
    assert not report["closed_forms_apply"]
    # correlated values: the uniform linear strategies are no equilibrium, so no double-auction row
    assert not report["prior"]["linear_equilibrium"]
    assert all("chatterjee_samuelson" not in tier["monte_carlo"] for tier in report["tiers"].values())
    assert report["prior"]["second_best"]["efficiency"] >= report["prior"]["best_posted_price"]["efficiency"]
    assert {tier["units"] for tier in report["tiers"].values()} == {"prior widths"}
    # the closed forms for independent uniform values are absent, not printed beside another prior's draws
    assert all("uniform" not in tier for tier in report["tiers"].values())
    # nor the disclosure curves, which start from the double-auction play that is no equilibrium here
    assert all(tier["disclosure"] == [] for tier in report["tiers"].values())
    table = theory_command(
        capsys, "--config", str(SCENARIO_CONFIGS / "marketplace.yaml"), "--episodes", "200"
    )
    assert "uniform" not in table.replace("independent uniform values", "")
    assert "disclosure α: not shown (the curves start from k = ½ double-auction play" in table


def test_theory_rejects_bad_arguments(refused, capsys):
    refused(["theory", "--k", "1.5"], match="--k")
    assert main(["theory", "--config", "does/not/exist.yaml"]) == 2  # a config mistake: one line, exit 2
    assert "config file not found: does/not/exist.yaml" in capsys.readouterr().err
