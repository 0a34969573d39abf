"""Any OpenAI-compatible chat-completions endpoint (OpenRouter, OpenAI, a vLLM or SGLang server) via `openai`.

The config names the environment variable that holds the key (`api_key_env`), never the key. Presets fill in
`base_url` and `api_key_env` for OpenRouter, OpenAI and a local vLLM server. The client's own retries are off:
`ReliableBackend` retries, with the same policy for every backend. Sampling keys go into the request body as
written, so the ones the OpenAI API does not know (top_k, min_p, ...) reach vLLM and OpenRouter too.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field, fields
from typing import Any

from haggle.data.backends.base import Completion, PermanentError, RequestError, TransientError
from haggle.data.redaction import is_secret_name, register_secret
from haggle.env.actions import ToolCall
from haggle.env.config_loading import build, expand_environment, refuse_unknown

PRESETS: dict[str, dict[str, Any]] = {
    "openrouter": {
        "base_url": "https://openrouter.ai/api/v1",
        "api_key_env": "OPENROUTER_API_KEY",
        "extra_body": {"usage": {"include": True}},  # ask for the cost of every request
    },
    "openai": {"base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY"},
    "vllm": {"base_url": "${HAGGLE_BASE_URL:-http://127.0.0.1:8000/v1}", "api_key_env": None},
}

# How each preset switches a model's thinking on or off.
_THINKING_FIELDS = {
    "openrouter": lambda on: {"reasoning": {"enabled": on}},
    "vllm": lambda on: {"chat_template_kwargs": {"enable_thinking": on}},
}

_STOP_STATUSES = {401, 403, 404}  # a bad key, no access or no such model: retrying cannot help
_RETRY_STATUSES = {408, 409, 425, 429}


@dataclass
class EndpointConfig:
    model: str
    base_url: str | None = None
    api_key_env: str | None = None  # the NAME of the environment variable holding the key
    preset: str | None = None
    sampling: dict[str, Any] = field(default_factory=dict)
    thinking: bool | None = None
    timeout: float = 120.0  # seconds per request
    extra_body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # e.g. OpenRouter's HTTP-Referer / X-Title

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> EndpointConfig:
        refuse_unknown(params, [f.name for f in fields(cls)], what="endpoint parameter")
        preset = params.get("preset")
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; known: {sorted(PRESETS)}")
        merged = {**PRESETS.get(preset or "", {}), **params}
        merged["extra_body"] = {
            **PRESETS.get(preset or "", {}).get("extra_body", {}),
            **params.get("extra_body", {}),
        }
        config = build(cls, expand_environment(merged), what="endpoint parameter")
        if not config.model:
            raise ValueError("an endpoint agent needs `model`")
        if config.thinking is not None and config.preset not in _THINKING_FIELDS:
            raise ValueError(
                f"`thinking` needs preset {' or '.join(_THINKING_FIELDS)}; for other endpoints put the provider's "
                "own switch in `extra_body`"
            )
        if not config.base_url:
            raise ValueError(
                f"endpoint agent {config.model!r} needs `base_url` or a `preset` ({sorted(PRESETS)})"
            )
        for name, value in config.headers.items():
            if is_secret_name(name):  # a provider's own key header: scrub it from any error text too
                register_secret(value)
        return config

    def request_body(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        """The JSON body: sampling keys go as they are (vLLM and OpenRouter read top_k, min_p, ... there too)."""
        body = {"model": self.model, "messages": _wire_messages(messages), "tools": tools, **self.sampling}
        body |= self.extra_body
        if self.thinking is not None and self.preset in _THINKING_FIELDS:
            body |= _THINKING_FIELDS[self.preset](self.thinking)
        return body


def _wire_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chat as the OpenAI wire wants it: JSON-string arguments, no reasoning, no names on tool replies."""
    wire = []
    for message in messages:
        message = {key: value for key, value in message.items() if key not in ("reasoning_content", "name")}
        if message.get("tool_calls"):
            message["tool_calls"] = [
                {
                    **call,
                    "function": {
                        "name": call["function"]["name"],
                        "arguments": call["function"]["arguments"]
                        if isinstance(call["function"]["arguments"], str)
                        else json.dumps(call["function"]["arguments"], ensure_ascii=False),
                    },
                }
                for call in message["tool_calls"]
            ]
            message["content"] = message["content"] or None
        wire.append(message)
    return wire


def _retry_after(headers: Any) -> float | None:
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(header) if headers is not None else None
        if value is not None:
            try:
                return max(float(value) * scale, 0.0)
            except ValueError:
                continue  # an HTTP date: fall back to our own backoff
    return None


class OpenAIEndpoint:
    def __init__(self, config: EndpointConfig) -> None:
        self.config = config
        self._client: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def _api_key(self) -> str:
        if not self.config.api_key_env:
            return "EMPTY"  # local servers accept any key
        key = os.environ.get(self.config.api_key_env)
        if not key:
            raise PermanentError(
                f"the environment variable {self.config.api_key_env} (api_key_env) is not set: export the API key "
                "for this endpoint under that name"
            )
        register_secret(key)
        return key

    def client(self) -> Any:
        """One client per event loop: its connections belong to the loop that opened them."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            import openai

            self._client = openai.AsyncOpenAI(
                api_key=self._api_key(),
                base_url=self.config.base_url,
                timeout=self.config.timeout,
                max_retries=0,
                default_headers=self.config.headers or None,
            )
            self._client_loop = loop
        return self._client

    async def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], seed: int
    ) -> Completion:
        import openai

        started = time.perf_counter()
        try:
            # `post` with raw JSON rather than `chat.completions.create`: create() re-validates the whole growing
            # chat and builds pydantic models on every call, milliseconds of CPU that cap a latency-bound run.
            response = await self.client().post(
                "/chat/completions", cast_to=object, body=self.config.request_body(messages, tools)
            )
        except openai.APITimeoutError:
            raise TransientError("timeout", f"no answer within {self.config.timeout:g} s") from None
        except openai.APIConnectionError as error:
            raise TransientError(
                "connection", f"cannot connect to {self.config.base_url} ({error})"
            ) from None
        except openai.APIStatusError as error:
            raise _status_error(error) from None
        except ValueError as error:  # a 200 labelled JSON whose body is not (an HTML page, a cut-off answer)
            raise TransientError(
                "bad_response", f"the endpoint answered with a body that is not JSON ({error})"
            ) from None
        return _completion(response, time.perf_counter() - started)

    async def aclose(self) -> None:
        if self._client is not None and self._client_loop is asyncio.get_running_loop():
            await self._client.close()
        self._client = self._client_loop = None


def _status_error(error: Any) -> Exception:
    body = error.body if isinstance(error.body, dict) else {}
    status = error.status_code
    message = f"HTTP {status}: {body.get('message') or error.message}"
    if status == 429:
        return TransientError("rate_limit", message, _retry_after(error.response.headers))
    if status >= 500 or status in _RETRY_STATUSES:
        return TransientError("server_error", message, _retry_after(error.response.headers))
    if status in _STOP_STATUSES:
        return PermanentError(message)
    return RequestError(message)


def _completion(response: Any, latency: float) -> Completion:
    """Read the JSON answer: content, native tool calls, reasoning (vLLM's reasoning_content, OpenRouter's
    reasoning), token usage and cost. An answer that is no chat completion is a transient failure, retried."""
    choices = response.get("choices") if isinstance(response, dict) else None
    message = (
        choices[0].get("message")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict)
        else None
    )
    if not isinstance(message, dict):  # some routers answer 200 with an error body, some proxies with a page
        error = response.get("error") if isinstance(response, dict) and "error" in response else response
        raise TransientError("bad_response", f"the endpoint returned no chat completion ({str(error)[:300]})")
    calls = [
        ToolCall(call["function"]["name"], call["function"].get("arguments") or {})
        for call in message.get("tool_calls") or []
        if isinstance(call, dict)
        and isinstance(call.get("function"), dict)
        and isinstance(call["function"].get("name"), str)
    ]
    usage: dict[str, Any] = {"latency_s": round(latency, 4)}
    reported = response.get("usage") if isinstance(response.get("usage"), dict) else {}
    for key in ("prompt_tokens", "completion_tokens", "cost"):
        if isinstance(reported.get(key), int | float):
            usage[key] = reported[key]
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    content = message.get("content")
    return Completion(
        content if isinstance(content, str) else "",
        calls,
        reasoning if isinstance(reasoning, str) else None,
        usage,
    )
