"""Fixtures for the data tests: the project's chat server on 127.0.0.1 and endpoint agent specs pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from haggle.testing.chat_server import ChatServer, ServedModel

FAST_RETRY = {"initial_delay": 0.01, "max_delay": 0.05}


def _endpoint_agent(
    name: str, server: ChatServer, *, model: str | None = None, **params: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "openai",
        "params": {
            "model": model or name,
            "base_url": server.base_url,
            "timeout": 2.0,
            "retry": FAST_RETRY,
            **params,
        },
    }


@pytest.fixture
def endpoint_agent() -> Any:
    """`endpoint_agent(name, server, **params)`: a tournament `agents:` entry for an endpoint agent served by
    `server`, with short timeouts and backoffs."""
    return _endpoint_agent


@pytest.fixture
def chat_server() -> Iterator[Any]:
    """Start servers on demand: `chat_server({"alpha": ServedModel(...)}, delay=...)`; all stop at teardown."""
    started: list[ChatServer] = []

    def start(models: dict[str, ServedModel] | None = None, **options: Any) -> ChatServer:
        server = ChatServer(models, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
