"""NegMAS strategies inside Haggle: the same agreements as NegMAS's own SAOMechanism, and the NegMAS suite's guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from haggle.data.negmas_agent import negmas_reference
from haggle.env.agents import create_agent
from haggle.env.episode_loop import play_episodes
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from haggle.eval import bench_suite

from haggle.cli import main
from haggle.commands.bench import load_suite

pytest.importorskip("negmas", reason="NegMAS is the optional extra: pip install 'haggle[negmas]'")

PAIRS = [
    ("BoulwareTBNegotiator", "ConcederTBNegotiator"),
    ("LinearTBNegotiator", "NaiveTitForTatNegotiator"),
    ("MiCRONegotiator", "ConcederTBNegotiator"),
    ("ConcederTBNegotiator", "AspirationNegotiator"),
]


@pytest.mark.parametrize(("buyer", "seller"), PAIRS)
def test_deterministic_strategies_agree_inside_haggle_as_in_saomechanism(buyer: str, seller: str) -> None:
    config = SamplerConfig(tiers=[100, 10000], domains=["abstract", "used_car"], first_mover="random")
    scenarios = ScenarioSampler(config).sample(12, 3)
    names = {"buyer": buyer, "seller": seller}
    episodes = play_episodes(
        scenarios, lambda role, s: create_agent("negmas", role=role, seed=s.seed, negotiator=names[role])
    )
    inside = [(e.outcome.price, e.outcome.turns) for e in episodes]
    assert inside == [negmas_reference(s, buyer, seller) for s in scenarios]
    assert any(price is not None for price, _ in inside)


def test_the_negmas_suite_refuses_a_core_install(monkeypatch: pytest.MonkeyPatch) -> None:
    suite = load_suite("v1-negmas")
    monkeypatch.setattr(bench_suite, "negmas_version", lambda: None)
    with pytest.raises(ValueError, match=r"pip install 'haggle\[negmas\]'"):
        suite.check_installed()
    monkeypatch.setattr(bench_suite, "negmas_version", lambda: "0.0.1")
    with pytest.raises(ValueError, match="frozen on NegMAS 0.16.0"):
        suite.check_installed()


def test_the_negmas_suite_plays_and_its_card_names_the_negmas_version(tmp_path: Path) -> None:
    out = tmp_path / "micro"
    argv = ["bench", "run", "--suite", "v1-negmas", "--model", "negmas:MiCRONegotiator", "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["manifest"]["content"]["suite"]["negmas"] == "0.16.0"
    assert card["model"]["spec"]["params"] == {"negotiator": "MiCRONegotiator"}
    assert card["episodes_stored"] == 100 and card["health"]["invalid_actions"] == 0
