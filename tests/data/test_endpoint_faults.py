"""Endpoint faults found by the cluster-scale audit (issue 14), each against a real server on 127.0.0.1.

A 200 whose body is not JSON is a transient failure (retried with backoff, counted towards stopping the model); a
key given in a header never reaches a file; a Retry-After holds back the episode's next attempt too; reasoning in
any spelling of the think tags never reaches the other side. The project's chat server plays the episodes; a
canned server (below) answers what no real model server would: HTML pages and cut-off JSON with status 200.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from haggle.data.agent_specs import AgentSpec, shared_backend
from haggle.data.backends.openai_endpoint import EndpointConfig, OpenAIEndpoint
from haggle.data.backends.reliability import EndpointFailure, ModelStopped, ReliableBackend, RetryPolicy
from haggle.data.episode_store import EpisodeStore
from haggle.data.job_runner import run_jobs_sync
from haggle.data.redaction import SET
from haggle.data.tool_parsing import parse_reply
from haggle.data.tournament import TournamentConfig, run_tournament, tournament_jobs
from haggle.env.actions import ToolCall
from haggle.env.scenario import ROLES

from haggle.testing.chat_server import ChatServer, FaultPlan, ServedModel

MESSAGES = [{"role": "user", "content": "Your move."}]
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "accept_offer", "arguments": "{}"},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
}
HTML_PAGE = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
CUT_OFF_JSON = json.dumps(COMPLETION)[:57]


class CannedServer:
    """Answers the n-th POST with the n-th canned (status, content type, body), the last one for ever after;
    records what it was sent."""

    def __init__(self, answers: list[tuple[int, str, str]]) -> None:
        self.answers = answers
        self.requests: list[dict[str, str]] = []  # the headers of every POST, in order
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                canned.requests.append({name.lower(): value for name, value in self.headers.items()})
                status, content_type, body = canned.answers[
                    min(len(canned.requests), len(canned.answers)) - 1
                ]
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.http.server_address[1]}/v1"

    def __enter__(self) -> CannedServer:
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.http.shutdown()
        self.http.server_close()


def endpoint_backend(server: CannedServer, **retry: Any) -> ReliableBackend:
    config = EndpointConfig.from_params({"model": "canned", "base_url": server.base_url, "timeout": 2.0})
    return ReliableBackend("canned", OpenAIEndpoint(config), RetryPolicy(**retry))


async def complete_once(backend: ReliableBackend) -> Any:
    try:
        return await backend.complete(MESSAGES, [], seed=0)
    finally:
        await backend.aclose()


def tournament(agents: list[dict[str, Any]], **settings: Any) -> TournamentConfig:
    return TournamentConfig.from_mapping(
        {
            "agents": agents,
            "episodes_per_pairing": 1,
            "scenarios": {"tiers": [100, 10_000], "no_zone_share": 0.0},
            **settings,
        }
    )


# -- 1: a 200 that is not JSON ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type, body",
    [("application/json", HTML_PAGE), ("application/json", CUT_OFF_JSON), ("text/html", HTML_PAGE)],
    ids=["html-labelled-json", "cut-off-json", "html"],
)
def test_a_200_whose_body_is_not_json_is_retried_with_backoff(content_type, body):
    answers = [(200, content_type, body)] * 2 + [(200, "application/json", json.dumps(COMPLETION))]
    with CannedServer(answers) as server:
        backend = endpoint_backend(server, max_retries=3, initial_delay=0.2)
        started = time.perf_counter()
        completion = asyncio.run(complete_once(backend))
        elapsed = time.perf_counter() - started
    assert [call.name for call in completion.tool_calls] == ["accept_offer"]
    assert completion.usage["attempts"] == 3 and backend.retries == {"bad_response": 2}
    assert elapsed >= 0.1 + 0.2  # at least half of each exponential delay: 0.2 s, then 0.4 s


def test_an_endpoint_that_only_answers_pages_is_stopped_not_hammered():
    with CannedServer([(200, "application/json", HTML_PAGE)]) as server:
        backend = endpoint_backend(server, max_retries=1, initial_delay=0.05, max_consecutive_failures=2)

        async def three_requests() -> list[BaseException]:
            errors = []
            for _ in range(3):
                try:
                    await backend.complete(MESSAGES, [], seed=0)
                except (EndpointFailure, ModelStopped) as error:
                    errors.append(error)
            await backend.aclose()
            return errors

        errors = asyncio.run(three_requests())
    assert [type(error) for error in errors] == [EndpointFailure, EndpointFailure, ModelStopped]
    assert "not JSON" in str(errors[0]) and "2 consecutive failed requests" in str(errors[2])
    assert len(server.requests) == 4 and backend.failures == 2  # the stopped model sent nothing more


# -- 2: keys given in headers ----------------------------------------------------------------------------------
KEY_HEADERS = {
    "api-key": "azure-7f3c9e1d5b2a4c6e8f0a",
    "X-Api-Key": "live-3b8d1f6a9c2e4b7d0e5f",
    "x-goog-api-key": "AIzaSyD4m9X2kQ7pL1vN8wR3tY6uJ0hG5fC2bE9",
}


def test_keys_given_in_headers_never_reach_the_run_directory(chat_server, endpoint_agent, tmp_path):
    server = chat_server()
    note = "sk-or-v1-5d2f8a1c9e3b7d4f6a0c"  # a key by its look, wherever it is written
    agents = [
        endpoint_agent(
            "alpha",
            server,
            model="boulware",
            headers={**KEY_HEADERS, "HTTP-Referer": "https://haggle.example"},
            extra_body={"metadata": {"note": f"Bearer {note}"}},
        ),
        {"name": "linear"},
    ]
    config = tournament(agents)
    server.register(job.scenario for job in tournament_jobs(config))
    summary, _ = run_tournament(config, tmp_path / "run", progress=False)
    assert summary.completed == 2 and summary.failed == 0

    written = b"".join(path.read_bytes() for path in (tmp_path / "run").rglob("*") if path.is_file())
    for secret in [*KEY_HEADERS.values(), note]:
        assert secret.encode() not in written
    recorded = json.loads((tmp_path / "run" / "run.json").read_text())["config"]["agents"][0]["params"]
    episodes = [
        record["agents"][role] for record in EpisodeStore(tmp_path / "run").records() for role in ROLES
    ]
    for params in [recorded] + [agent["params"] for agent in episodes if agent["name"] == "alpha"]:
        assert params["headers"] == {
            **dict.fromkeys(KEY_HEADERS, SET),
            "HTTP-Referer": "https://haggle.example",
        }
        assert params["extra_body"] == {"metadata": {"note": "Bearer ***"}}


def test_a_key_header_still_reaches_the_endpoint_and_an_echo_of_it_is_scrubbed(endpoint_agent):
    refusal = json.dumps(
        {"error": {"message": f"invalid api-key {KEY_HEADERS['api-key']} for this deployment"}}
    )
    with CannedServer([(400, "application/json", refusal)]) as server:
        spec = AgentSpec.from_mapping(
            endpoint_agent("keyed", server, headers={"api-key": KEY_HEADERS["api-key"]})
        )
        backend = shared_backend(spec)
        with pytest.raises(EndpointFailure) as failure:
            asyncio.run(complete_once(backend))
    assert server.requests[0]["api-key"] == KEY_HEADERS["api-key"]
    assert KEY_HEADERS["api-key"] not in str(failure.value) and "invalid api-key ***" in str(failure.value)
    assert KEY_HEADERS["api-key"] not in json.dumps(spec.to_dict()) + json.dumps(spec.identity())


# -- 3: ${VAR:-N} in numeric tournament fields -----------------------------------------------------------------
def test_numbers_from_the_environment_are_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("HAGGLE_TEST_EPISODES", "3")
    monkeypatch.delenv("HAGGLE_TEST_SEED", raising=False)
    path = tmp_path / "tournament.yaml"
    path.write_text(
        "agents: [{name: linear}, {name: boulware}]\n"
        "seed: ${HAGGLE_TEST_SEED:-7}\n"
        "episodes_per_pairing: ${HAGGLE_TEST_EPISODES:-1}\n"
        "scenarios: {tiers: ['${HAGGLE_TEST_TIER:-100}']}\n",
        encoding="utf-8",
    )
    config = TournamentConfig.from_yaml(path)
    assert (config.seed, config.episodes_per_pairing, config.scenarios.tiers) == (7, 3, [100.0])
    literal = TournamentConfig.from_mapping(
        {"agents": [{"name": "linear"}, {"name": "boulware"}], "seed": 7, "episodes_per_pairing": 3}
        | {"scenarios": {"tiers": [100]}}
    )
    assert config.to_dict() == literal.to_dict()  # a resume with the integer seed is the same run
    assert [job.episode_id for job in tournament_jobs(config)] == [
        job.episode_id for job in tournament_jobs(literal)
    ]


# -- 5: Retry-After across an episode's attempts ---------------------------------------------------------------
class TimedChatServer(ChatServer):
    """The project's chat server, noting when each chat request arrives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: list[float] = []

    async def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        self.arrivals.append(time.monotonic())
        return await super()._answer(method, path, headers, body)


def test_the_retry_after_of_a_failed_attempt_holds_back_the_next_attempt(endpoint_agent, tmp_path):
    limited = ServedModel(
        "boulware", faults=FaultPlan(at={1: "rate_limit", 2: "rate_limit"}, retry_after=0.6)
    )
    with TimedChatServer({"alpha": limited}) as server:
        retry = {"max_retries": 1, "initial_delay": 0.01, "max_delay": 0.02}
        config = tournament(
            [endpoint_agent("alpha", server, retry=retry), {"name": "linear"}], concurrency=1, max_attempts=2
        )
        server.register(job.scenario for job in tournament_jobs(config))
        summary, _ = run_tournament(config, tmp_path / "run", progress=False)
    assert summary.completed == 2 and summary.error_attempts == 1  # the first attempt ran out of retries
    first, retried, next_attempt = server.arrivals[:3]
    assert retried - first >= 0.6  # within an attempt (kept)
    assert next_attempt - retried >= 0.6  # and across attempts: the server's last word was "wait 0.6 s"


# -- 11: every spelling of the think tags ----------------------------------------------------------------------
SPELLINGS = [
    ("<THINK>", "</THINK>"),
    ("<thinking>", "</thinking>"),
    ("<think >", "</think >"),
    ('<think type="plan">', "< /think>"),
    ("<Thinking>", ""),  # cut off at the token limit
]


@pytest.mark.parametrize("opening, closing", SPELLINGS, ids=[opening for opening, _ in SPELLINGS])
def test_reasoning_in_any_spelling_is_kept_apart_from_what_the_other_side_reads(opening, closing):
    message = f"{opening}my value is 80{closing}Final offer."
    reply = parse_reply(
        f"{opening}I can go to 75.{closing}Here is my move.",
        [ToolCall("make_offer", {"price": 60, "message": message})],
    )
    assert isinstance(reply.move, ToolCall)
    spoken = reply.move.arguments["message"]
    assert "80" not in spoken and "think" not in spoken.lower()
    assert "75" not in reply.content and "75" in (reply.reasoning or "")
    if closing:
        assert spoken == "Final offer." and reply.content == "Here is my move."


def test_reasoning_opened_by_the_template_is_stripped_in_any_case():
    reply = parse_reply("weighing 80 against 75\n</THINKING>\nI offer 60.", [ToolCall("accept_offer", {})])
    assert reply.content == "I offer 60." and reply.reasoning == "weighing 80 against 75"


class ThinkingChatServer(ChatServer):
    """The project's chat server, its "think" fault written in another spelling for every request."""

    def _completion(self, *args: Any) -> dict:
        answer = super()._completion(*args)
        opening, closing = SPELLINGS[self.counts[(args[0], "request")] % len(SPELLINGS)]
        message = answer["choices"][0]["message"]
        for call in message.get("tool_calls") or []:
            arguments = call["function"]["arguments"]
            call["function"]["arguments"] = arguments.replace("<think>", opening).replace("</think>", closing)
        return answer


def _public_messages(store: EpisodeStore) -> Iterator[str]:
    for record in store.records():
        for event in record["events"]:
            if event["public"]:
                yield str(event["payload"].get("message", ""))


def test_no_spelling_of_reasoning_reaches_the_other_side_of_a_real_episode(endpoint_agent, tmp_path):
    with ThinkingChatServer(
        {"alpha": ServedModel("boulware", faults=FaultPlan(rates={"think": 1.0}))}
    ) as server:
        config = tournament([endpoint_agent("alpha", server), {"name": "linear"}], episodes_per_pairing=3)
        jobs = tournament_jobs(config)
        server.register(job.scenario for job in jobs)
        store = EpisodeStore(tmp_path / "run")
        summary = run_jobs_sync(jobs, store, concurrency=2, rules=config.rules, progress=False)
    assert summary.completed == 6
    spoken = list(_public_messages(store))
    assert any("Take it or leave it." in text for text in spoken)  # the words were delivered...
    assert not any("never show this" in text or "think" in text.lower() for text in spoken)  # ...the rest not


# -- an endpoint that is not there -----------------------------------------------------------------------------
def test_a_closed_port_is_reported_with_the_url_that_was_tried():
    with CannedServer([(200, "application/json", json.dumps(COMPLETION))]) as server:
        base_url = server.base_url  # the port is closed once the server has stopped
    config = EndpointConfig.from_params({"model": "gone", "base_url": base_url, "timeout": 2.0})
    backend = ReliableBackend("gone", OpenAIEndpoint(config), RetryPolicy(max_retries=0))
    with pytest.raises(EndpointFailure, match=f"cannot connect to {base_url}"):
        asyncio.run(complete_once(backend))
