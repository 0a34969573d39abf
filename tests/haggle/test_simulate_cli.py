"""`haggle simulate` and `haggle play` as a user runs them."""

import json
import subprocess
import sys

from haggle.cli import main


def simulate(capsys, *args):
    assert main(["simulate", *args]) == 0
    return capsys.readouterr().out


def test_simulate_json_has_the_promised_keys_and_is_reproducible(capsys):
    args = ["--buyer", "boulware", "--seller", "conceder", "--episodes", "300", "--seed", "1", "--json"]
    first = simulate(capsys, *args)
    summary = json.loads(first)
    for key in ("episodes", "deal_rate", "efficiency", "surplus_share", "tiers"):
        assert key in summary
    assert set(summary["surplus_share"]) == {"buyer", "seller"}
    assert len(summary["tiers"]) >= 4 and summary["episodes"] == 300
    for tier in summary["tiers"].values():
        assert {"deal_rate", "efficiency", "surplus_share"} <= set(tier)
    assert simulate(capsys, *args) == first
    assert simulate(capsys, *args[:-2], "2", "--json") != first


def test_simulate_writes_every_episode(capsys, tmp_path):
    out = tmp_path / "episodes.jsonl"
    table = simulate(
        capsys, "--buyer", "linear", "--seller", "hardliner", "--episodes", "25", "--out", str(out)
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 25
    assert {"scenario", "events", "outcome"} <= set(records[0])
    assert "efficiency" in table and not table.lstrip().startswith("{")  # the human table, not JSON


def test_simulate_rejects_unknown_agents_clearly():
    result = subprocess.run(
        [sys.executable, "-m", "haggle.cli", "simulate", "--buyer", "oracle", "--seller", "linear"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "registered agents" in result.stderr


def test_play_prints_a_transcript(capsys):
    assert main(["play", "--buyer", "tit_for_tat", "--seller", "boulware", "--index", "2"]) == 0
    out = capsys.readouterr().out
    assert "make_offer" in out and "[private]" in out
    assert "Deal at" in out or "No deal" in out


def test_env_imports_without_torch():
    code = (
        "import sys, haggle.env, haggle.env.agents.scripted, haggle.env.episode_loop, haggle.env.metrics, haggle.env.prompts; "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"
