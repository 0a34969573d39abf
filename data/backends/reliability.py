"""Retries, backoff, bounded concurrency and stopping, around any backend.

Transient failures (429, 5xx, a 200 that is no answer, timeouts, dropped connections) are retried with exponential
backoff and jitter. A Retry-After holds back every request to the model until it has passed: the retries of the
request that got it and the requests of the episode's next attempt alike. A request that still fails counts against
its model; after `max_consecutive_failures` such failures in a row (or at once on a bad key or unknown model) the
model is stopped: every later request fails fast with `ModelStopped`, so the rest of a tournament goes on without it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from haggle.data.backends.base import ChatBackend, Completion, PermanentError, RequestError, TransientError
from haggle.data.redaction import redact
from haggle.env.config_loading import build


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6
    initial_delay: float = 1.0  # seconds before the first retry; doubles with each retry
    max_delay: float = 60.0
    max_retry_after: float = 300.0  # a longer Retry-After is capped (and the retry goes on)
    max_consecutive_failures: int = 5  # failed requests in a row (after retries) that stop the model
    max_concurrency: int | None = None  # requests in flight to this model; None = as many as the runner makes

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("retry: max_retries, initial_delay and max_delay must not be negative")
        if self.max_consecutive_failures < 1:
            raise ValueError("retry: max_consecutive_failures must be at least 1")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> RetryPolicy:
        return build(cls, mapping, what="retry setting")

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Equal jitter: half the exponential delay is fixed, half random, so that clients spread out."""
        ceiling = min(self.max_delay, self.initial_delay * 2**retry)
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


class EndpointFailure(RuntimeError):
    """One request failed after its retries: the episode is an infrastructure error, not a 'no deal'."""


class ModelStopped(RuntimeError):
    """The model was stopped after repeated failures; its episodes are recorded as errors."""


class ReliableBackend:
    """A backend shared by every agent built from one spec."""

    def __init__(self, name: str, backend: ChatBackend, policy: RetryPolicy, seed: int = 0) -> None:
        self.name = name
        self.backend = backend
        self.policy = policy
        self.rng = random.Random(seed)
        self.retries: Counter[str] = Counter()  # by kind: rate_limit, server_error, timeout, connection
        self.requests = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.stopped: str | None = None  # why the model was stopped
        self._not_before = 0.0  # time.monotonic() before which no request goes out: the last Retry-After
        self._limits: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    def reset(self) -> None:
        """Start a run afresh: zero the counters and give a stopped model another chance."""
        self.retries.clear()
        self.requests = self.failures = self.consecutive_failures = 0
        self.stopped = None

    def _limit(self) -> asyncio.Semaphore | None:
        if self.policy.max_concurrency is None:
            return None
        loop = asyncio.get_running_loop()  # semaphores belong to one loop; evals may run several in turn
        if loop not in self._limits:
            self._limits = {loop: asyncio.Semaphore(self.policy.max_concurrency)}
        return self._limits[loop]

    async def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], seed: int
    ) -> Completion:
        for retry in range(self.policy.max_retries + 1):
            if self.stopped:
                raise ModelStopped(self.stopped)
            await self._honour_retry_after()
            started = time.perf_counter()
            try:
                self.requests += 1
                limit = self._limit()
                if limit is None:
                    completion = await self.backend.complete(messages, tools, seed)
                else:
                    async with limit:
                        completion = await self.backend.complete(messages, tools, seed)
            except TransientError as error:
                if error.retry_after is not None:  # the next request, this one's retry or any other, waits
                    wait = min(error.retry_after, self.policy.max_retry_after)
                    self._not_before = max(self._not_before, time.monotonic() + wait)
                if retry == self.policy.max_retries:
                    self._failed(f"{error.kind} after {retry + 1} attempts: {error}")
                    raise EndpointFailure(f"{self.name}: {redact(str(error))}") from None
                self.retries[error.kind] += 1
                if error.retry_after is None:
                    await asyncio.sleep(self.policy.backoff(retry, self.rng))
            except PermanentError as error:
                self._stop(redact(str(error)))
                raise ModelStopped(self.stopped) from None
            except RequestError as error:
                self._failed(str(error))
                raise EndpointFailure(f"{self.name}: request refused: {redact(str(error))}") from None
            else:
                self.consecutive_failures = 0
                completion.usage.setdefault("latency_s", round(time.perf_counter() - started, 4))
                completion.usage["attempts"] = retry + 1
                return completion
        raise AssertionError("unreachable: the last retry either returns or raises")

    async def _honour_retry_after(self) -> None:
        """At least what the server asked for, plus jitter so that the requests held back spread out."""
        wait = self._not_before - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait + self.rng.uniform(0, 0.1 * wait))

    def _failed(self, reason: str) -> None:
        self.failures += 1
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.policy.max_consecutive_failures:
            self._stop(f"{self.consecutive_failures} consecutive failed requests; last: {redact(reason)}")

    def _stop(self, reason: str) -> None:
        if not self.stopped:
            self.stopped = (
                f"agent {self.name!r} stopped: {reason}. Its remaining episodes are recorded as errors; fix the "
                "endpoint and rerun the same command to play them."
            )

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "retries": dict(self.retries),
            "stopped": self.stopped,
        }

    async def aclose(self) -> None:
        await self.backend.aclose()
