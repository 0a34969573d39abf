"""A test OpenAI-compatible chat-completions server: a scripted strategy behind HTTP, with injected faults.

Tests and the throughput benchmark drive it with the real `openai` client, so every retry, timeout and parse path
runs against a real socket. Each model name serves a scripted strategy (`ServedModel`); any registered strategy
name also works as a model name. The server plays the scenarios registered with it (`scenarios=` or
`register`), replaying each chat through the engine (`haggle.testing.chat_policy`); a chat about any other
scenario is refused with a 400 that says so. Faults are injected per model by request number or at random rates:
    rate_limit    429 with Retry-After            server_error  500
    hang          no answer until hang_s           drop          connection closed without an answer
    malformed     a tool call whose arguments are broken JSON
    garbage       text with no tool call           text_call     the call written as <tool_call>...</tool_call>
    think         a <think> block in the content and in the call's message argument
`delay` makes every answer wait, as a remote model would (the benchmark's fixed latency).

    python -m haggle.testing.chat_server --port 8000 --delay 0.05 --scenarios scenarios.jsonl
                                    # serves every scripted strategy as a model, on the scenarios in the file
Standard library only (asyncio), HTTP/1.1 with keep-alive, non-streaming.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haggle.env.actions import ToolCall
from haggle.env.agents import AGENT_REGISTRY, create_agent
from haggle.env.scenario import Scenario
from haggle.testing.chat_policy import ScenarioBook, scripted_reply

FAULT_KINDS = ("rate_limit", "server_error", "hang", "drop", "malformed", "garbage", "text_call", "think")
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


@dataclass
class FaultPlan:
    at: dict[int, str] = field(default_factory=dict)  # request number (1-based, per model) -> fault
    rates: dict[str, float] = field(default_factory=dict)  # fault -> probability for every other request
    retry_after: float = 0.05  # seconds announced with a 429
    hang_s: float = 30.0

    def __post_init__(self) -> None:
        unknown = sorted((set(self.at.values()) | set(self.rates)) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; known: {list(FAULT_KINDS)}")

    def fault_for(self, request_number: int, rng: random.Random) -> str | None:
        if request_number in self.at:
            return self.at[request_number]
        for kind, rate in self.rates.items():
            if rng.random() < rate:
                return kind
        return None


@dataclass
class ServedModel:
    strategy: str = "boulware"
    params: dict[str, Any] = field(default_factory=dict)
    faults: FaultPlan = field(default_factory=FaultPlan)
    cost_per_request: float | None = None  # reported as usage.cost, like OpenRouter


class ChatServer:
    def __init__(
        self,
        models: dict[str, ServedModel] | None = None,
        *,
        scenarios: Iterable[Scenario] = (),
        delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        seed: int = 0,
    ) -> None:
        self.models = dict(models or {})
        for name, model in self.models.items():
            create_agent(model.strategy, role="buyer", **model.params)  # fail now on a bad strategy
            if not name:
                raise ValueError("model names must not be empty")
        self.scenarios = ScenarioBook(scenarios)
        self.delay, self.host, self.port, self.api_key = delay, host, port, api_key
        self.rng = random.Random(seed)
        self.seed = seed
        self.counts: Counter[tuple[str, str]] = Counter()  # (model, "request" or a fault kind)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def model(self, name: str) -> ServedModel | None:
        if name in self.models:
            return self.models[name]
        return ServedModel(strategy=name) if name in AGENT_REGISTRY else None

    def register(self, scenarios: Iterable[Scenario]) -> ChatServer:
        """Add scenarios the server may be asked to play (tests register their jobs' scenarios)."""
        self.scenarios.add(scenarios)
        return self

    # -- running ---------------------------------------------------------------------------------------------
    async def start_serving(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> ChatServer:
        """Serve on a background thread (tests); returns once the port is bound."""
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.start_serving())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="chat-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the chat server did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop is None or self._server is None:
            return
        loop, server = self._loop, self._server

        async def shutdown() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = self._server = None

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- HTTP ------------------------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line.strip():
                    break
                method, path, _ = request_line.decode("latin-1").split(" ", 2)
                headers = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                answer = await self._answer(method, path.split("?")[0], headers, body)
                if answer is None:  # a dropped connection or a hang: no answer at all
                    break
                status, payload, extra_headers = answer
                data = json.dumps(payload).encode()
                head = [
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
                    "Content-Type: application/json",
                    f"Content-Length: {len(data)}",
                    "Connection: keep-alive",
                ]
                head += [f"{name}: {value}" for name, value in extra_headers.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, asyncio.CancelledError):
            pass  # a client that went away, a malformed request, or the server shutting down
        finally:
            writer.close()

    async def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        if method == "GET" and path.rstrip("/").endswith("/models"):
            names = sorted(self.models) or sorted(AGENT_REGISTRY)
            return 200, {"object": "list", "data": [{"id": name, "object": "model"} for name in names]}, {}
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            return 404, _error(f"no route {method} {path}", "not_found"), {}
        if self.api_key is not None:
            given = headers.get("authorization", "").removeprefix("Bearer ").strip()
            if given != self.api_key:  # echo the key, as some servers do: Haggle must scrub it
                return 401, _error(f"Incorrect API key provided: {given}", "invalid_api_key"), {}
        try:
            request = json.loads(body)
        except json.JSONDecodeError:
            return 400, _error("the body is not JSON", "invalid_request_error"), {}
        served = self.model(str(request.get("model")))
        if served is None:
            return 404, _error(f"The model {request.get('model')!r} does not exist", "model_not_found"), {}
        problem = _check_messages(request.get("messages"))
        if problem:
            return 400, _error(problem, "invalid_request_error"), {}
        name = request["model"]
        self.counts[(name, "request")] += 1
        fault = served.faults.fault_for(self.counts[(name, "request")], self.rng)
        if fault:
            self.counts[(name, fault)] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if fault == "drop":
            return None
        if fault == "hang":
            await asyncio.sleep(served.faults.hang_s)
            return None
        if fault == "rate_limit":
            wait = served.faults.retry_after
            return 429, _error("Rate limit reached", "rate_limit_exceeded"), {"Retry-After": f"{wait:g}"}
        if fault == "server_error":
            return 500, _error("The server had an error while processing your request", "server_error"), {}
        try:
            messages, tools = request["messages"], request.get("tools") or []
            move = scripted_reply(messages, tools, self.scenarios, served.strategy, served.params, self.seed)
        except ValueError as error:
            return (
                400,
                _error(f"the test server cannot follow this chat: {error}", "invalid_request_error"),
                {},
            )
        return 200, self._completion(name, served, request, move, fault), {}

    def _completion(
        self, name: str, served: ServedModel, request: dict[str, Any], move: ToolCall, fault: str | None
    ) -> dict:
        messages = request["messages"]
        call = {"name": move.name, "arguments": json.dumps(move.arguments)}
        content: str | None = None
        calls: list[dict[str, Any]] = [
            {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function", "function": call}
        ]
        if fault == "malformed":
            calls[0]["function"]["arguments"] = '{"price": '
        elif fault == "garbage":
            content, calls = "Lorem ipsum dolor sit amet; I would rather talk about the weather.", []
        elif fault == "text_call":
            content = f"Let me answer.\n<tool_call>\n{json.dumps({'name': move.name, 'arguments': move.arguments})}\n</tool_call>"
            calls = []
        elif fault == "think":
            content = "<think>My private reasoning about the price.</think>Here is my move."
            arguments = dict(move.arguments) if isinstance(move.arguments, dict) else {}
            if move.name in ("make_offer", "reject_offer"):
                arguments["message"] = "<think>never show this</think>Take it or leave it."
            calls[0]["function"]["arguments"] = json.dumps(arguments)
        prompt_tokens = sum(len(json.dumps(m)) for m in messages) // 4
        completion_tokens = max(1, len(json.dumps(calls) + (content or "")) // 4)
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if served.cost_per_request is not None:
            usage["cost"] = served.cost_per_request
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            message["tool_calls"] = calls
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": name,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": usage,
        }


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": code, "code": code}}


def _check_messages(messages: Any) -> str | None:
    """What OpenAI rejects too: no messages, or a tool reply that answers no pending tool call."""
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list"
    pending: set[str] = set()
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "assistant":
            pending = {call.get("id") for call in message.get("tool_calls") or []}
        elif role == "tool":
            if message.get("tool_call_id") not in pending:
                return f"messages[{index}]: a 'tool' message must answer a tool call of the previous assistant message"
            pending.discard(message["tool_call_id"])
        elif role in ("user", "system"):
            if pending:
                return f"messages[{index}]: tool call(s) {sorted(pending)} were not answered"
        else:
            return f"messages[{index}]: unknown role {role!r}"
    return None


def write_scenarios(scenarios: Iterable[Scenario], path: Path) -> Path:
    """The `--scenarios` file for a server in another process."""
    lines = (json.dumps(scenario.to_dict()) for scenario in scenarios)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def read_scenarios(path: Path) -> list[Scenario]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Scenario.from_dict(json.loads(line)) for line in lines if line.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--scenarios",
        type=Path,
        help="JSON lines, one scenario each (`Scenario.to_dict`): what the server plays",
    )
    args = parser.parse_args(argv)
    scenarios = read_scenarios(args.scenarios) if args.scenarios else []
    server = ChatServer(scenarios=scenarios, delay=args.delay, host=args.host, port=args.port, seed=args.seed)

    async def serve() -> None:
        await server.start_serving()
        print(
            f"serving scripted strategies on {len(server.scenarios)} scenarios at {server.base_url}",
            flush=True,
        )
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
