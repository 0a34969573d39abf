"""Endpoint agents against the project's chat server on 127.0.0.1, through the real `openai` client.

Faults are injected by the server (429 with Retry-After, 500, hangs past the client timeout, dropped connections,
malformed tool calls, garbage text, tool calls written as text, reasoning in the reply): retries and violations
must show, and every episode must end up recorded exactly once.
"""

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest
from haggle.data import transcript as transcript_module
from haggle.data.agent_specs import AgentSpec, build_agent, shared_backend
from haggle.data.episode_store import EpisodeStore
from haggle.data.job_runner import run_jobs_sync
from haggle.data.tournament import TournamentConfig, tournament_jobs
from haggle.data.transcript import Transcript
from haggle.env import prompts
from haggle.env.actions import tool_schemas
from haggle.env.agents import create_agent
from haggle.env.episode_loop import play_episode
from haggle.env.negotiation import Negotiation
from haggle.env.scenario import SamplerConfig, ScenarioSampler

from haggle.testing.chat_server import FaultPlan, ServedModel

FAULTS = {
    1: "rate_limit",
    2: "server_error",
    3: "hang",
    4: "drop",
    5: "malformed",
    8: "garbage",
    11: "text_call",
    14: "think",
}


def tournament(agents, episodes=3, **settings):
    return TournamentConfig.from_mapping(
        {
            "agents": agents,
            "episodes_per_pairing": episodes,
            "scenarios": {"tiers": [100, 10_000], "no_zone_share": 0.0},
            **settings,
        }
    )


def test_two_endpoint_agents_and_a_scripted_one_survive_every_fault(chat_server, tmp_path, endpoint_agent):
    server = chat_server(
        {
            "alpha": ServedModel("boulware", faults=FaultPlan(at=FAULTS, hang_s=5), cost_per_request=0.002),
            "beta": ServedModel("conceder"),
        },
        delay=0.005,
    )
    config = tournament(
        [endpoint_agent("alpha", server, timeout=0.5), endpoint_agent("beta", server), {"name": "linear"}]
    )
    jobs = tournament_jobs(config)
    server.register(job.scenario for job in jobs)
    store = EpisodeStore(tmp_path / "run")
    summary = run_jobs_sync(jobs, store, concurrency=4, rules=config.rules, progress=False)

    # every episode recorded exactly once, none failed, none lost
    records = list(store.records())
    assert len(jobs) == 18 and summary.completed == 18 and summary.failed == 0
    assert sorted(r["episode_id"] for r in records) == sorted(job.episode_id for job in jobs)
    assert summary.deals > 0 and summary.deals == sum(r["outcome"]["deal"] for r in records)

    # transport faults were retried, each kind at least once
    retries = summary.backends["alpha"]["retries"]
    assert {"rate_limit", "server_error", "timeout", "connection"} <= set(retries)
    assert summary.backends["beta"]["retries"] == {}

    # bad replies became violations the model was told about, not crashes
    alpha_errors = [
        event["payload"]["error"]
        for r in records
        for event in r["events"]
        if event["kind"] == "violation" and r["agents"][event["actor"]]["name"] == "alpha"
    ]
    assert any("not valid JSON" in error for error in alpha_errors)
    assert any("no tool call in the reply" in error for error in alpha_errors)
    assert sum(r["outcome"]["violations"][role] for r in records for role in ("buyer", "seller")) == len(
        alpha_errors
    )

    # a call written as text was played; reasoning is stored but never reaches the other side
    turns = [t for r in records for t in r["turns"]]
    assert any("<tool_call>" in (t["raw_output"] or "") and t["move_type"] == "ToolCall" for t in turns)
    assert any(t["reasoning"] and "private reasoning" in t["reasoning"] for t in turns)
    public_text = [str(e["payload"].get("message", "")) for r in records for e in r["events"] if e["public"]]
    assert not any("think" in text or "never show this" in text for text in public_text)

    # usage and cost per model
    assert summary.usage["alpha"]["cost"] > 0 and summary.usage["beta"]["prompt_tokens"] > 0
    assert summary.usage["alpha"]["requests"] + summary.usage["beta"]["requests"] == summary.requests
    assert server.counts[("alpha", "request")] == summary.backends["alpha"]["requests"]


# Other words for what the prompts say, in the places the old regex-reading fake opponent depended on.
REWORDING = {
    "Your private value for it is": "You would pay at most",
    "Your private cost for it is": "It costs you",
    "both numbers lie between": "both numbers are somewhere from",
    "each of you has at most": "each side gets up to",
    " offered ": " put forward ",
    "is on the table": "stands",
    "turn(s) left": "moves to go",
}


def reword_the_prompts(monkeypatch) -> None:
    """A prompt revision: the same facts, other words, wherever `env.prompts` renders text."""

    def reworded(render):
        def render_reworded(*args, **kwargs):
            text = render(*args, **kwargs)
            for old, new in REWORDING.items():
                text = text.replace(old, new)
            return text

        return render_reworded

    for name in ("system_prompt", "describe_event", "situation"):
        monkeypatch.setattr(prompts, name, reworded(getattr(prompts, name)))
    monkeypatch.setattr(transcript_module, "system_prompt", prompts.system_prompt)


def test_rewording_the_prompts_leaves_the_served_strategy_unchanged(chat_server, endpoint_agent, monkeypatch):
    """The fake opponent replays the chat from structured data (registered scenario, tool calls, events read back
    through `env.prompts`), so it plays what in-process boulware plays, whatever the prompts' words."""
    scenarios = ScenarioSampler(SamplerConfig(tiers=[100, 10_000], no_zone_share=0.0)).sample(6, seed=3)

    def outcomes(spec: AgentSpec) -> list[tuple]:
        async def play_all():
            played = []
            for index, scenario in enumerate(scenarios):
                for role, other in (("buyer", "seller"), ("seller", "buyer")):
                    agents = {role: build_agent(spec, role, index), other: create_agent("linear", role=other)}
                    episode = await play_episode(scenario, agents["buyer"], agents["seller"])
                    played.append((episode.outcome.deal, episode.outcome.price, episode.outcome.rounds))
            return played

        return asyncio.run(play_all())

    def served(name: str) -> AgentSpec:
        server = chat_server(scenarios=scenarios)
        return AgentSpec.from_mapping(endpoint_agent(name, server, model="boulware"))

    in_process = outcomes(AgentSpec("boulware"))
    assert outcomes(served("served")) == in_process and any(deal for deal, _, _ in in_process)
    reword_the_prompts(monkeypatch)
    transcript = Transcript()
    transcript.observe(Negotiation(scenarios[0]).view("buyer"))
    assert "You would pay at most" in transcript.messages[0]["content"]
    assert outcomes(served("served-reworded")) == in_process


def test_a_chat_about_no_registered_scenario_is_refused_not_walked_away_from(chat_server):
    server = chat_server()
    body = {
        "model": "boulware",
        "messages": [{"role": "system", "content": "hi"}, {"role": "user", "content": "?"}],
    }
    request = urllib.request.Request(
        f"{server.base_url}/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    assert "register the scenarios" in json.loads(refused.value.read())["error"]["message"]


def test_retry_after_is_honoured(chat_server, endpoint_agent):
    server = chat_server(
        {"slowdown": ServedModel("linear", faults=FaultPlan(at={1: "rate_limit"}, retry_after=0.4))}
    )
    scenario = ScenarioSampler(SamplerConfig()).sample(1, seed=0)[0]
    spec = AgentSpec.from_mapping(endpoint_agent("slowdown", server.register([scenario])))
    backend = shared_backend(spec)
    backend.reset()
    transcript = Transcript()
    transcript.observe(Negotiation(scenario).view(scenario.first_mover))  # the opening of a real chat
    messages = transcript.messages
    started = time.perf_counter()
    completion = asyncio.run(backend.complete(messages, tool_schemas(), seed=0))
    assert time.perf_counter() - started >= 0.4  # our own backoff would have waited about 0.01 s
    assert completion.usage["attempts"] == 2 and backend.retries["rate_limit"] == 1


def test_a_model_that_keeps_failing_is_stopped_and_the_rest_goes_on(chat_server, tmp_path, endpoint_agent):
    server = chat_server(
        {
            "down": ServedModel("linear", faults=FaultPlan(rates={"server_error": 1.0})),
            "up": ServedModel("boulware"),
        }
    )
    stop_fast = {
        "retry": {"initial_delay": 0.001, "max_delay": 0.002, "max_retries": 1, "max_consecutive_failures": 2}
    }
    agents = [endpoint_agent("down", server, **stop_fast), endpoint_agent("up", server), {"name": "conceder"}]
    config = tournament(agents, episodes=2)
    jobs = tournament_jobs(config)
    server.register(job.scenario for job in jobs)
    store = EpisodeStore(tmp_path / "run")
    summary = run_jobs_sync(jobs, store, concurrency=2, rules=config.rules, progress=False)

    involved = {job.episode_id for job in jobs if "down" in (job.buyer.name, job.seller.name)}
    assert "down" in summary.stopped and "rerun the same command" in summary.stopped["down"]
    assert summary.failed == len(involved) == 8
    assert store.completed_ids() == {job.episode_id for job in jobs} - involved  # the rest was played
    errors = store.errors()
    assert {e["episode_id"] for e in errors} == involved  # logged as errors, never scored as "no deal"
    assert {e["kind"] for e in errors} == {"infrastructure", "model_stopped"}

    # the endpoint recovers: the same jobs again play exactly what is missing
    server.models["down"].faults = FaultPlan()
    again = run_jobs_sync(jobs, store, concurrency=2, rules=config.rules, progress=False)
    assert again.completed == 8 and again.already_done == 4 and again.failed == 0
    assert store.completed_ids() == {job.episode_id for job in jobs}


def test_keys_never_reach_the_run_directory(chat_server, tmp_path, monkeypatch, endpoint_agent):
    secret, wrong = "sk-haggle-correct-0123456789", "sk-haggle-wrong-9876543210"
    monkeypatch.setenv("HAGGLE_TEST_KEY", secret)
    monkeypatch.setenv("HAGGLE_WRONG_KEY", wrong)
    server = chat_server(api_key=secret)  # a 401 echoes the key it was given, as some servers do
    agents = [
        endpoint_agent("good", server, model="boulware", api_key_env="HAGGLE_TEST_KEY"),
        endpoint_agent("bad", server, model="conceder", api_key_env="HAGGLE_WRONG_KEY"),
        {"name": "linear"},
    ]
    config = tournament(agents, episodes=1)
    jobs = tournament_jobs(config)
    server.register(job.scenario for job in jobs)
    store = EpisodeStore(tmp_path / "run")
    summary = run_jobs_sync(jobs, store, concurrency=2, rules=config.rules, progress=False)
    assert "HTTP 401" in summary.stopped["bad"] and summary.completed == 2
    # the episode store is SQLite: its text is stored as UTF-8 bytes, so a leaked key shows in the raw bytes
    written = "".join(
        path.read_bytes().decode("utf-8", "replace")
        for path in (tmp_path / "run").rglob("*")
        if path.is_file()
    )
    assert "Incorrect API key provided: ***" in written
    assert secret not in written and wrong not in written
    assert secret not in str(summary.to_dict()) and wrong not in str(summary.to_dict())


def test_the_command_exits_non_zero_and_says_how_to_finish(chat_server, tmp_path, endpoint_agent, capsys):
    """`haggle tournament` with a dead model: the rest is played, stderr names the stop and the rerun, exit 1."""
    import yaml

    from haggle.cli import main

    server = chat_server({"down": ServedModel("linear", faults=FaultPlan(rates={"server_error": 1.0}))})
    stop_fast = {
        "retry": {"initial_delay": 0.001, "max_delay": 0.002, "max_retries": 1, "max_consecutive_failures": 2}
    }
    config = tmp_path / "tournament.yaml"
    agents = [endpoint_agent("down", server, **stop_fast), {"name": "boulware"}, {"name": "conceder"}]
    config.write_text(yaml.safe_dump({"agents": agents, "episodes_per_pairing": 2, "concurrency": 2}))
    out = tmp_path / "run"
    assert main(["tournament", "--config", str(config), "--out", str(out), "--no-progress"]) == 1
    printed = capsys.readouterr()
    assert "4 played" in printed.out  # boulware and conceder, both orders, two scenarios
    assert "8 episode(s) could not be played" in printed.err and str(out / "errors.jsonl") in printed.err
    assert "rerun the same `haggle tournament` command" in printed.err
