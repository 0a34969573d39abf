"""`haggle tournament` and `haggle traces` as a user runs them, on the scripted CPU default config."""

import json
from pathlib import Path

import pytest
import yaml
from haggle.data.episode_store import EpisodeStore
from haggle.env.outcome import Outcome

from haggle.cli import main

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "tournament" / "scripted-cpu.yaml"


def tournament(capsys, *args):
    code = main(["tournament", "--config", str(CONFIG), "--no-progress", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_round_robin_plays_every_ordered_pair_on_paired_scenarios_and_resumes(capsys, tmp_path):
    code, result = tournament(capsys, "--out", str(tmp_path / "run"), "--episodes-per-pairing", "6")
    agents = [agent["name"] for agent in yaml.safe_load(CONFIG.read_text())["agents"]]
    pairs = len(agents) * (len(agents) - 1)
    assert code == 0 and result["summary"]["completed"] == 6 * pairs == result["summary"]["jobs"]

    records = list(EpisodeStore(tmp_path / "run").records())
    by_pair = {}
    for record in records:
        pair = (record["agents"]["buyer"]["name"], record["agents"]["seller"]["name"])
        by_pair.setdefault(pair, set()).add(record["scenario"]["scenario_id"])
    assert len(by_pair) == pairs and len({frozenset(s) for s in by_pair.values()}) == 1  # the same scenarios

    board = result["leaderboard"]
    assert {entry["agent"] for entry in board["ranking"]} == set(agents)
    assert json.loads((tmp_path / "run" / "leaderboard.json").read_text()) == board
    boulware_buyer = next(
        r for r in board["rows"] if r["agent"] == "boulware" and r["role"] == "buyer" and r["tier"] == "all"
    )
    mine = [Outcome.from_dict(r["outcome"]) for r in records if r["agents"]["buyer"]["name"] == "boulware"]
    assert boulware_buyer["episodes"] == len(mine) == 6 * (len(agents) - 1)
    assert boulware_buyer["deal_rate"] == pytest.approx(sum(o.deal for o in mine) / len(mine))
    assert {r["tier"] for r in board["rows"]} == {"all", "10", "1k", "100k"}

    code, again = tournament(capsys, "--out", str(tmp_path / "run"), "--episodes-per-pairing", "6")
    assert code == 0 and again["summary"]["completed"] == 0 and again["summary"]["already_done"] == 6 * pairs
    assert again["leaderboard"] == board


def test_a_run_directory_refuses_a_different_game(refused, capsys, tmp_path):
    tournament(capsys, "--out", str(tmp_path / "run"), "--episodes-per-pairing", "1")
    changed = yaml.safe_load(CONFIG.read_text()) | {"seed": 99}
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(changed))
    refused(
        ["tournament", "--config", str(other), "--out", str(tmp_path / "run"), "--no-progress"],
        match="different seed",
    )


def test_config_mistakes_fail_before_any_work(refused, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"agents": [{"name": "boulware"}, {"name": "boulware"}]}))
    refused(["tournament", "--config", str(bad), "--out", str(tmp_path / "run")], match="unique")
    bad.write_text(yaml.safe_dump({"agents": [{"name": "a"}, {"name": "b"}], "episodes": 3}))
    assert main(["tournament", "--config", str(bad), "--out", str(tmp_path / "run")]) == 2
    assert "unknown tournament setting 'episodes'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_traces_command_writes_a_filtered_dataset_with_a_card(refused, capsys, tmp_path):
    tournament(capsys, "--out", str(tmp_path / "run"), "--episodes-per-pairing", "8")
    out = tmp_path / "traces"
    args = ["traces", str(tmp_path / "run"), "--out", str(out), "--roles", "seller", "--deals-only", "--json"]
    assert main(args) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["schema"] == "haggle.traces/1" and manifest["filters"]["deals_only"] is True
    assert set(manifest["counts"]["train"]["by_role"]) == {"seller"}
    card = (out / "README.md").read_text()
    assert "haggle_schema: haggle.traces/1" in card and str(manifest["counts"]["train"]["examples"]) in card
    assert main(args) == 0  # rewriting its own output directory is fine
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "notes.txt").write_text("keep me")
    refused(
        ["traces", str(tmp_path / "run"), "--out", str(tmp_path / "elsewhere")],
        match="not a Haggle traces directory",
    )


def test_export_writes_every_stored_episode_as_strict_json_lines(refused, capsys, tmp_path):
    config = tmp_path / "t.yaml"
    config.write_text(
        yaml.safe_dump({"agents": [{"name": "boulware"}, {"name": "conceder"}], "episodes_per_pairing": 3}),
        encoding="utf-8",
    )
    assert main(["tournament", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "episodes.jsonl")]) == 0
    lines = (tmp_path / "episodes.jsonl").read_text(encoding="utf-8").splitlines()
    records = [
        json.loads(line, parse_constant=lambda name: pytest.fail(f"non-JSON constant {name}"))
        for line in lines
    ]
    assert len(records) == 3 * 2 and len({r["episode_id"] for r in records}) == len(records)
    refused(
        ["export", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.jsonl")], match="no episodes stored"
    )
