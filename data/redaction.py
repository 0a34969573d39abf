"""Keys never reach a log, a trace, a run record or a dataset.

A key can come near a file two ways: as text (an error message that echoes it) and as a config value (a provider
that reads its key from its own header: Azure's `api-key`, Google's `x-goog-api-key`, `X-Api-Key`). `redact`
scrubs text of every key Haggle has seen and of anything shaped like a key; `redact_params` is what a record keeps
of an agent's params: a value that is a secret by its name keeps only the fact that it was set (`SET`), and any
other text is scrubbed like an error message.
"""

from __future__ import annotations

import re
from typing import Any

SET = "<set>"  # what a record keeps of a secret value: that one was given
_SECRETS: set[str] = set()
# The last word of a name that holds a secret: api_key, X-Api-Key, x-goog-api-key, access_token, Authorization.
_SECRET_WORDS = frozenset(
    {
        "key",
        "apikey",
        "secret",
        "token",
        "password",
        "passwd",
        "auth",
        "authorization",
        "cookie",
        "credentials",
    }
)
_NAME_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
# Keys by their look, whatever they are called: OpenAI/OpenRouter/Anthropic `sk-`, Google `AIza`, Hugging Face
# `hf_`, GitHub, Groq, xAI, AWS access keys, JWTs, and whatever follows `Bearer` or `Basic`.
_KEY_SHAPED = re.compile(
    r"\b(?:sk-[A-Za-z0-9_-]{16,}|AIza[0-9A-Za-z_-]{30,}|hf_[A-Za-z0-9]{30,}|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|(?:gsk|xai)[-_][A-Za-z0-9]{30,}|AKIA[0-9A-Z]{16}|eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,})"
    r"|(?<=[Bb]earer )[\w.~+/=-]{8,}|(?<=[Bb]asic )[A-Za-z0-9+/=]{8,}"
)


def register_secret(value: str | None) -> None:
    """Remember a key read from the environment so that any text echoing it can be scrubbed."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _KEY_SHAPED.sub("***", text)


def is_secret_name(name: str) -> bool:
    """`X-Api-Key`, `x-goog-api-key`, `apiKey`, `access_token`, `Authorization`; not `api_key_env` (it names a
    variable) nor `max_tokens`."""
    words = _NAME_WORDS.findall(name)
    return bool(words) and words[-1].lower() in _SECRET_WORDS


def redact_params(value: Any, name: str = "") -> Any:
    """`value` as a record may keep it: secrets by name become `SET`, every string is scrubbed of key-shaped text."""
    if isinstance(value, dict):
        return {key: redact_params(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_params(item, name) for item in value]
    if is_secret_name(name) and value not in (None, ""):
        return SET
    return redact(value) if isinstance(value, str) else value
