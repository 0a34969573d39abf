"""One run-directory core: the tournament played without the CLI, resumed, and each kind kept to its own directory."""

import json

import pytest
from haggle.data.agent_specs import AgentSpec
from haggle.data.episode_store import EpisodeStore, StoreError
from haggle.data.run_directory import episode_id, labelled_episode_id
from haggle.data.tournament import TournamentConfig, run_tournament
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from haggle.eval.eval_config import EvalConfig
from haggle.eval.eval_run import load_run, run_eval

SCENARIOS = {"tiers": [100, 1000], "max_rounds": 8}


def tournament_config(**changes) -> TournamentConfig:
    mapping = {
        "seed": 3,
        "episodes_per_pairing": 4,
        "scenarios": SCENARIOS,
        "agents": [
            {"name": "boulware"},
            {"name": "linear"},
            {"name": "hardliner", "params": {"margin": 0.3}},
        ],
    } | changes
    return TournamentConfig.from_mapping(mapping)


def eval_config() -> EvalConfig:
    return EvalConfig.from_mapping(
        {
            "seed": 3,
            "episodes": 2,
            "scenarios": SCENARIOS,
            "model": {"name": "model", "strategy": "boulware"},
            "opponents": [{"name": "linear"}],
        }
    )


def test_a_tournament_runs_without_the_cli_and_a_second_call_resumes(tmp_path):
    config, run_dir = tournament_config(), tmp_path / "run"
    summary, board = run_tournament(config, run_dir, progress=False)
    assert summary.jobs == summary.completed == 4 * 6 and summary.already_done == 0
    assert {entry["agent"] for entry in board["ranking"]} == {"boulware", "linear", "hardliner"}
    assert sum(entry["episodes"] for entry in board["ranking"]) == 2 * 24  # each episode ranks both players
    assert json.loads((run_dir / "leaderboard.json").read_text()) == board
    manifest = json.loads((run_dir / "run.json").read_text())
    assert (manifest["schema"], manifest["kind"], manifest["jobs"]) == ("haggle.run/1", "tournament", 24)
    assert manifest["config"] == json.loads(json.dumps(config.to_dict())) and manifest["resumed_at"] is None
    written = sorted(EpisodeStore(run_dir).records(), key=lambda record: record["episode_id"])

    again, same_board = run_tournament(config, run_dir, progress=False)
    assert (again.completed, again.already_done) == (0, 24) and same_board == board
    # nothing rewritten (compared as read back: the SQLite side files come and go with checkpoints)
    assert sorted(EpisodeStore(run_dir).records(), key=lambda record: record["episode_id"]) == written
    resumed = json.loads((run_dir / "run.json").read_text())
    assert resumed["created_at"] == manifest["created_at"] and resumed["resumed_at"] is not None

    more, _ = run_tournament(tournament_config(episodes_per_pairing=5), run_dir, progress=False)
    assert (more.completed, more.already_done) == (6, 24)  # the same scenarios, then one more per pair
    with pytest.raises(ValueError, match="different seed"):
        run_tournament(tournament_config(seed=4), run_dir, progress=False)


def test_a_run_directory_holds_one_kind_of_run(tmp_path):
    run_eval(eval_config(), tmp_path / "eval", progress=False)
    with pytest.raises(ValueError, match="holds a run of kind 'eval', not a tournament"):
        run_tournament(tournament_config(), tmp_path / "eval", progress=False)
    assert json.loads((tmp_path / "eval" / "run.json").read_text())["kind"] == "eval"  # refused, kept

    run_tournament(tournament_config(), tmp_path / "tournament", progress=False)
    with pytest.raises(ValueError, match="holds a run of kind 'tournament', not an eval"):
        run_eval(eval_config(), tmp_path / "tournament", progress=False)
    with pytest.raises(ValueError, match="not an eval run directory .* run `haggle eval` first"):
        load_run(tmp_path / "tournament")
    assert [len(records) for records in load_run(tmp_path / "eval").records.values()] == [2, 2]


def test_a_manifest_of_an_unknown_schema_is_refused(tmp_path):
    run_tournament(tournament_config(), tmp_path, progress=False)
    manifest = json.loads((tmp_path / "run.json").read_text()) | {"schema": "haggle.run/99"}
    (tmp_path / "run.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="haggle.run/99"):
        run_tournament(tournament_config(), tmp_path, progress=False)


def test_episode_ids_are_the_ones_earlier_versions_stored():
    """Existing run directories resume only if the ids of their plan never change."""
    scenario = ScenarioSampler(SamplerConfig.from_mapping({"tiers": [100]})).sample(1, 3)[0]
    buyer, seller = AgentSpec.from_mapping({"name": "boulware"}), AgentSpec.from_mapping({"name": "linear"})
    assert episode_id(scenario, buyer, seller, 1) == "debf871b4916c72fcb1c3781"
    identity = ["k_double_auction", {"k": 0.5}]
    assert labelled_episode_id("mechanism", "cs", identity, scenario) == "mechanism.cs.b7d37ad468748c5389e2"
