"""What every backend returns and raises, so that retries and stopping are decided in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from haggle.env.actions import ToolCall


@dataclass
class Completion:
    text: str  # the reply's text as generated (may hold <think> blocks and tool calls written in text)
    tool_calls: list[ToolCall] = field(default_factory=list)  # native tool calls, in order
    reasoning: str | None = None  # reasoning an endpoint returned beside the text
    usage: dict[str, Any] = field(default_factory=dict)  # prompt_tokens, completion_tokens, cost, latency_s


class ChatBackend(Protocol):
    async def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], seed: int
    ) -> Completion:
        """One completion for one conversation; raises the errors below when the request fails."""
        ...

    async def aclose(self) -> None: ...


class TransientError(Exception):
    """Worth retrying: rate limits, server errors, timeouts, dropped connections."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = (
            kind  # rate_limit | server_error | bad_response (a 200 that is no answer) | timeout | connection
        )
        self.retry_after = retry_after


class PermanentError(Exception):
    """The model cannot be reached at all (bad key, unknown model): stop it rather than retry."""


class RequestError(Exception):
    """This request was refused (e.g. a context too long): the episode fails, the model goes on."""
