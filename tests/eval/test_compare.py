"""`haggle eval compare` on scripted runs whose differences are known in sign: a Boulware model keeps more of
the gains than a Conceder against the same opponents on the same scenarios."""

import json
from pathlib import Path

import pytest
from haggle.eval.eval_config import EvalConfig
from haggle.eval.eval_report import write_eval
from haggle.eval.eval_run import load_run, run_eval

from haggle.cli import main


def eval_run(root: Path, strategy: str) -> str:
    """A finished eval of a scripted model, with its eval.json (no plots)."""
    config = EvalConfig.from_mapping(
        {
            "seed": 2,
            "episodes": 40,
            "bootstrap_resamples": 300,
            "scenarios": {"tiers": [10, 10000], "max_rounds": 8},
            "model": {"name": f"model-{strategy}", "strategy": strategy},
            "opponents": [{"name": "linear"}, {"name": "hardliner", "params": {"margin": 0.3}}],
        }
    )
    out = root / f"eval-{strategy}"
    run_eval(config, out, progress=False)
    write_eval(load_run(out), out, plots=False)
    return str(out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {strategy: eval_run(root, strategy) for strategy in ("boulware", "conceder", "linear")}


def compare(capsys, *args) -> dict:
    assert main(["eval", "compare", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def cell(data: dict, opponent: str, role: str, tier: str) -> dict:
    return next(c for c in data["cells"] if (c["opponent"], c["role"], c["tier"]) == (opponent, role, tier))


def test_two_runs_give_per_tier_tests_with_the_right_signs(runs, capsys, tmp_path):
    out = tmp_path / "compare"
    data = compare(capsys, runs["boulware"], runs["conceder"], "--out", str(out))
    assert json.loads((out / "compare.json").read_text()) == data
    assert (out / "compare.md").read_text().startswith("# Eval comparison")
    assert [run["label"] for run in data["runs"]] == ["eval-boulware", "eval-conceder"]
    rows = {(r["opponent"], r["role"], r["tier"]): r for r in data["rows"]}
    assert set(rows) == {
        (o, r, t) for o in ("linear", "hardliner") for r in ("buyer", "seller") for t in ("10", "10k", "all")
    }
    evals = {name: json.loads(Path(runs[name], "eval.json").read_text()) for name in ("boulware", "conceder")}
    for (opponent, role, tier), row in rows.items():
        (pair,) = row["pairs"]
        assert (pair["a"], pair["b"]) == ("eval-boulware", "eval-conceder") and row["homogeneity"] is None
        a, b = (cell(evals[name], opponent, role, tier) for name in ("boulware", "conceder"))
        assert row["scenarios"] == a["episodes"] == b["episodes"]
        assert pair["deal_rate_diff"] == pytest.approx(b["deal_rate"] - a["deal_rate"])  # B − A
        assert pair["surplus_share_diff"] == pytest.approx(
            b["surplus_share_unconditional"] - a["surplus_share_unconditional"]
        )
        for key in ("mcnemar_p", "fisher_p", "z_p", "permutation_p"):
            assert 0 <= pair[key] <= pair[f"{key}_holm"] <= 1
        assert pair["discordant"] >= abs(round(pair["deal_rate_diff"] * row["scenarios"]))
    # against a linear opponent the Conceder gives in where the Boulware holds out
    for role in ("buyer", "seller"):
        pair = rows[("linear", role, "all")]["pairs"][0]
        assert pair["surplus_share_diff"] < 0 and pair["surplus_share_diff_ci"][1] < 0
    assert data["tests"] == 4 * len(rows)
    assert min(p["permutation_p"] for r in data["rows"] for p in r["pairs"]) < 0.01


def test_three_runs_add_a_chi_squared_test_of_equal_deal_rates(runs, capsys):
    data = compare(capsys, runs["boulware"], runs["conceder"], runs["linear"])
    tested = [row["homogeneity"] for row in data["rows"] if row["homogeneity"]]
    assert tested and all(test["dof"] == 2 and 0 <= test["p"] <= test["p_holm"] <= 1 for test in tested)
    assert all(len(row["pairs"]) == 3 for row in data["rows"])
    assert data["tests"] == 12 * len(data["rows"]) + len(tested)
    assert main(["eval", "compare", runs["boulware"], runs["conceder"], runs["linear"]]) == 0
    assert "Pearson χ²" in capsys.readouterr().out


def test_compare_refuses_what_it_cannot_pair(runs, tmp_path):
    with pytest.raises(SystemExit, match="at least two"):
        main(["eval", "compare", runs["boulware"]])
    with pytest.raises(SystemExit, match="not an eval run directory"):
        main(["eval", "compare", runs["boulware"], str(tmp_path)])
