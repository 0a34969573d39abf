"""LLM rows through a real OpenAI-compatible endpoint on 127.0.0.1 (the test chat server playing a scripted
strategy), driven by the real `openai` client: the path frontier models take in every preset."""

import pytest
from haggle.eval.experiments.experiment_config import ExperimentConfig
from haggle.eval.experiments.experiment_report import build_report
from haggle.eval.experiments.run import experiment_scenarios, run_experiment

from haggle.testing.chat_server import ChatServer


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("HAGGLE_TEST_KEY", "sk-local-test")
    with ChatServer() as started:
        yield started


def served(name: str, strategy: str, server: ChatServer) -> dict:
    endpoint = {"base_url": server.base_url, "api_key_env": "HAGGLE_TEST_KEY"}
    return {"name": name, "kind": "openai", "params": {"model": strategy, **endpoint}}


def run(mapping: dict, server: ChatServer, run_dir):
    config = ExperimentConfig.from_mapping(mapping)
    server.register(experiment_scenarios(config))
    return run_experiment(config, mapping, run_dir, progress=False)


def test_an_endpoint_model_and_a_mechanism_share_one_table(server, tmp_path):
    mapping = {
        "name": "k5",
        "episodes": 8,
        "scenarios": {"tiers": [100], "max_rounds": 5},
        "models": [served("served-linear", "linear", server), {"name": "linear"}],
        "mechanisms": [{"name": "cs", "mechanism": "k_double_auction"}],
    }
    summary = run(mapping, server, tmp_path)
    assert summary.stored == 24
    rows = {row["row"]: row for row in build_report(tmp_path).data["rows"]}
    assert set(rows) == {"served-linear", "linear", "cs"}
    # the served strategy is the scripted one read back from the chat: it bargains the same deals
    assert rows["served-linear"]["deals"] == rows["linear"]["deals"]


def test_framing_and_the_disclosure_question_reach_an_endpoint_model(server, tmp_path):
    mapping = {
        "name": "framing",
        "episodes": 4,
        "scenarios": {"tiers": [100], "max_rounds": 5},
        "disclosure": {},
        "conditions": [
            {"name": "symmetric"},
            {"name": "seller_stronger", "instructions": {"seller": "You are the stronger party."}},
        ],
        "models": [served("served-linear", "linear", server)],
    }
    summary = run(mapping, server, tmp_path)
    assert summary.stored == 8
    report = build_report(tmp_path).data
    assert [shift["a"] for shift in report["condition_shifts"]] == ["seller_stronger/served-linear"]
    assert {row["condition"] for row in report["disclosure"]} == {"symmetric", "seller_stronger"}
