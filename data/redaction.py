"""Keys never reach a log, a trace or a dataset: every error text Haggle stores passes through `redact`."""

from __future__ import annotations

_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a key read from the environment so that any text echoing it can be scrubbed."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
