"""Batching for local models: concurrent requests from any event loop share one generate call on one thread.

A tournament keeps many negotiations in flight; a local model serves them best as one padded batch. Requests
queue up while the model is busy; the worker thread takes every waiting request (up to `max_batch_size`), runs
`generate_batch` on them and hands each caller its result. Results travel as `concurrent.futures` futures, so
the worker belongs to no event loop and one loaded model serves every loop that uses it.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from haggle.data.backends.base import Completion

Request = TypeVar("Request")
Result = TypeVar("Result")


class BatchWorker(Generic[Request, Result]):
    def __init__(
        self, generate_batch: Callable[[list[Request]], list[Result]], max_batch_size: int, name: str
    ):
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self.generate_batch = generate_batch
        self.max_batch_size = max_batch_size
        self.name = name
        self._queue: queue.Queue[tuple[Request, Future[Result]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def submit(self, request: Request) -> Result:
        future: Future[Result] = Future()
        self._ensure_thread()
        self._queue.put((request, future))
        return await asyncio.wrap_future(future)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
                self._thread.start()

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch_size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(item)
            live = [(request, future) for request, future in batch if future.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                results = self.generate_batch([request for request, _ in live])
            except Exception as error:  # every caller of the batch sees the failure
                for _, future in live:
                    future.set_exception(error)
                continue
            for (_, future), result in zip(live, results, strict=True):
                future.set_result(result)

    def close(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._queue.put(None)
            self._thread = None


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    seed: int


class BatchedLocalModel:
    """A model loaded in this process (transformers, vLLM's engine): requests are batched by a `BatchWorker` and
    the model stays loaded across episodes, shared by every agent built from the same spec."""

    def __init__(self, max_batch_size: int, name: str) -> None:
        self.worker: BatchWorker[ChatRequest, Completion] = BatchWorker(
            self.generate_batch, max_batch_size, name
        )

    async def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], seed: int
    ) -> Completion:
        return await self.worker.submit(ChatRequest(messages, tools, seed))

    async def aclose(self) -> None:
        """Nothing to close: the model stays loaded for later episodes."""

    def generate_batch(self, requests: list[ChatRequest]) -> list[Completion]:
        raise NotImplementedError


def render_prompts(tokenizer: Any, requests: list[ChatRequest], thinking: bool | None) -> list[str]:
    """Each chat through the model's own chat template with the tool schemas, exactly as SFT renders traces."""
    template_kwargs = {} if thinking is None else {"enable_thinking": thinking}
    return [
        tokenizer.apply_chat_template(
            request.messages,
            tools=request.tools,
            add_generation_prompt=True,
            tokenize=False,
            **template_kwargs,
        )
        for request in requests
    ]
