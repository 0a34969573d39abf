"""`haggle eval compare` on scripted runs whose differences are known in sign: a Boulware model keeps more of
the gains than a Conceder against the same opponents on the same scenarios."""

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from haggle.eval.compare import MIN_SCENARIOS
from haggle.eval.eval_config import EvalConfig
from haggle.eval.eval_report import write_eval
from haggle.eval.eval_run import load_run, run_eval

from haggle.cli import main

SCRIPTED_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "eval" / "scripted.yaml"


def eval_run(root: Path, strategy: str, episodes: int = 40) -> str:
    """A finished eval of a scripted model, with its eval.json (no plots)."""
    config = EvalConfig.from_mapping(
        {
            "seed": 2,
            "episodes": episodes,
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


def pairs_in_family(data: dict) -> list[tuple[dict, dict]]:
    return [(row, pair) for row in data["rows"] for pair in row["pairs"] if row["tested"]]


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
        # the pooled share of gains: the eval's own numbers, differenced, with an interval around the difference
        assert row["runs"]["eval-boulware"]["share_of_gains"] == pytest.approx(a["share_of_gains"])
        assert pair["share_of_gains_diff"] == pytest.approx(b["share_of_gains"] - a["share_of_gains"])
        low, high = pair["share_of_gains_diff_ci"]
        assert low <= pair["share_of_gains_diff"] <= high
        assert (
            "fisher_p" not in pair and "z_p" not in pair
        )  # one test per hypothesis: McNemar for paired deals
        if row["tested"]:
            for key in ("mcnemar_p", "permutation_p"):
                assert 0 <= pair[key] <= pair[f"{key}_holm"] <= 1
        else:  # the "all" rows repeat the tier rows: estimates and intervals, no second test
            assert tier == "all" and pair["mcnemar_p"] is None and pair["permutation_p"] is None
            assert pair["surplus_share_diff_ci"] is not None and pair["deal_note"].startswith("not tested")
        assert pair["discordant"] >= abs(round(pair["deal_rate_diff"] * row["scenarios"]))
    # against a linear opponent the Conceder gives in where the Boulware holds out
    for role in ("buyer", "seller"):
        pair = rows[("linear", role, "all")]["pairs"][0]
        assert pair["surplus_share_diff"] < 0 and pair["surplus_share_diff_ci"][1] < 0
    assert data["tests"] == 2 * 8  # two hypotheses (deals, shares) on each of the 8 tier rows
    assert f"Holm family ({data['tests']} tests)" in (out / "compare.md").read_text()
    assert min(p["permutation_p"] for _, p in pairs_in_family(data)) < 0.01


def test_the_papers_example_is_significant_after_holm_with_exact_sign_flip_p_values(tmp_path, capsys):
    """The audit's example, rebuilt from the shipped scripted config: Boulware vs Conceder as buyer against a
    Boulware opponent, tier 10, Δ share −0.70. Its exact p (all 2^n sign patterns) survives Holm over the whole
    comparison, where 9,999 random resamples floored it at 1e-4 and Holm at 0.057."""
    paths = []
    for strategy in ("boulware", "conceder"):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HAGGLE_STRATEGY", strategy)
            patch.setenv("HAGGLE_SEED", "0")
            config = EvalConfig.from_yaml(SCRIPTED_CONFIG)
        run_eval(config, tmp_path / strategy, progress=False)
        paths.append(str(tmp_path / strategy))
    data = compare(capsys, *paths)
    row = next(
        r for r in data["rows"] if (r["opponent"], r["role"], r["tier"]) == ("boulware", "buyer", "10")
    )
    (pair,) = row["pairs"]
    assert pair["surplus_share_diff"] == pytest.approx(-0.70, abs=0.01)
    # the exact p from an independent enumeration of every sign pattern of the paired differences
    a, b = (_shares(path, "boulware", "buyer", "10") for path in paths)
    differences = b - a
    signs = np.array(list(itertools.product((-1.0, 1.0), repeat=len(differences))))
    exact = np.mean(np.abs(signs @ np.abs(differences)) >= abs(differences.sum()) - 1e-9)
    assert pair["permutation_p"] == pytest.approx(exact, rel=1e-9) and exact < 1e-5
    assert pair["permutation_p_holm"] < 0.01 and pair["permutation_method"] == "exact"
    assert data["tests"] == 2 * 6 * 2 * 5  # deals and shares × opponents × roles × tiers; no "all" rows


def _shares(run_dir: str, opponent: str, role: str, tier: str) -> np.ndarray:
    """The model's share of the gains (no deal = 0) on the scenarios with gains, in scenario order."""
    run = load_run(Path(run_dir))
    records = sorted(run.records[(opponent, role)], key=lambda r: r["scenario"]["scenario_id"])
    shares = []
    for record in records:
        scenario, outcome = record["scenario"], record["outcome"]
        if scenario["price_tier"] != tier or outcome["available_gains"] <= 0:
            continue
        surplus = scenario["buyer_value"] - outcome["price"] if outcome["deal"] else 0.0
        shares.append(surplus / outcome["available_gains"])
    return np.array(shares)


def test_three_runs_add_cochrans_q_of_equal_deal_rates(runs, capsys):
    data = compare(capsys, runs["boulware"], runs["conceder"], runs["linear"])
    tested = [row["homogeneity"] for row in data["rows"] if row["homogeneity"]]
    assert len(tested) == 8 and all(
        test["dof"] == 2 and 0 <= test["p"] <= test["p_holm"] <= 1 for test in tested
    )
    assert all(row["homogeneity"] is None for row in data["rows"] if row["tier"] == "all")
    assert all(len(row["pairs"]) == 3 for row in data["rows"])
    assert data["tests"] == 3 * 2 * 8 + 8
    assert main(["eval", "compare", runs["boulware"], runs["conceder"], runs["linear"]]) == 0
    assert "Cochran's Q" in capsys.readouterr().out


def test_small_runs_say_n_too_small_instead_of_crashing(tmp_path, capsys):
    """The README's tiny flow: 6 episodes per run leave tiers with fewer than two scenarios with gains."""
    paths = [eval_run(tmp_path, strategy, episodes=6) for strategy in ("boulware", "conceder")]
    data = compare(capsys, *paths)
    pairs = [pair for row, pair in pairs_in_family(data)]
    assert any(pair["share_scenarios"] == 1 for pair in pairs)  # where scipy's permutation test raised
    assert all(
        pair["share_scenarios"] < MIN_SCENARIOS and pair["share_note"] == "n too small" for pair in pairs
    )
    assert all(pair["permutation_p"] is None and pair["mcnemar_p"] is None for pair in pairs)
    assert data["tests"] == 0
    assert main(["eval", "compare", *paths]) == 0
    assert "n too small" in capsys.readouterr().out


def test_compare_refuses_what_it_cannot_pair(refused, runs, tmp_path):
    refused(["eval", "compare", runs["boulware"]], match="at least two")
    refused(["eval", "compare", runs["boulware"], str(tmp_path)], match="not an eval run directory")
