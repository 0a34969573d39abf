"""Playing many episodes concurrently into an `EpisodeStore`: bounded, resumable, and honest about failures.

`concurrency` negotiations are kept in flight (latency-bound rollouts need that many requests waiting at once).
Each finished episode is written the moment it ends. An episode whose agent fails (endpoint down after retries)
is logged as an error and tried again, up to `max_attempts`; it is never scored as "no deal". Episodes whose
model was stopped are logged as errors without being played. Job ids are deterministic (`data.run_directory`), so
running the same jobs again plays only what is missing.

`workers` > 1 spreads the jobs over that many processes (one event loop each: a loop tops out near one core's
worth of requests), each taking a disjoint share and committing into the same store; the store's primary key
keeps every episode exactly once whichever process is killed, and when.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

from haggle.data.agent_specs import AgentSpec, build_agent, close_backends, shared_backend
from haggle.data.backends.reliability import ModelStopped
from haggle.data.episode_store import EpisodeStore
from haggle.data.redaction import redact
from haggle.env.agents.base import Agent
from haggle.env.episode_loop import Episode, play_episode
from haggle.env.negotiation import ProtocolRules
from haggle.env.prompts import PROMPT_VERSION
from haggle.env.scenario import ROLES, Scenario, derive_seed

_USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "cost", "latency_s")
_WORKERS_MAX = 8
_EPISODES_PER_WORKER = 64  # below this, starting a process costs more than it saves


class WorkerFailed(RuntimeError):
    """A worker process died (killed, out of memory): what it finished is stored, a rerun plays the rest."""


@dataclass(frozen=True)
class EpisodeJob:
    episode_id: str
    scenario: Scenario
    buyer: AgentSpec
    seller: AgentSpec
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunSummary:
    jobs: int = 0
    already_done: int = 0  # skipped because the store had them
    completed: int = 0  # played and stored in this run
    deals: int = 0
    failed: int = 0  # episodes still missing after this run (rerun to retry them)
    error_attempts: int = 0  # failed attempts logged to errors.jsonl
    elapsed_s: float = 0.0
    requests: int = 0  # model requests of the completed episodes
    usage: dict[str, dict[str, float]] = field(default_factory=dict)  # per agent: tokens, cost, requests
    backends: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # per LLM agent: retries, failures, stop
    stopped: dict[str, str] = field(default_factory=dict)  # agent name -> why it was stopped

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"requests_per_second": self.requests_per_second}

    def add(self, part: RunSummary) -> None:
        """Fold in one worker process's summary of its share of the jobs."""
        for name in ("completed", "deals", "failed", "error_attempts", "requests"):
            setattr(self, name, getattr(self, name) + getattr(part, name))
        for agent, counts in part.usage.items():
            self.usage[agent] = dict(Counter(self.usage.get(agent, {})) + Counter(counts))
        for agent, stats in part.backends.items():
            mine = self.backends.setdefault(
                agent, {"requests": 0, "failures": 0, "retries": {}, "stopped": None}
            )
            mine["requests"] += stats["requests"]
            mine["failures"] += stats["failures"]
            mine["retries"] = dict(Counter(mine["retries"]) + Counter(stats["retries"]))
            mine["stopped"] = mine["stopped"] or stats["stopped"]
        for agent, message in part.stopped.items():
            self.stopped.setdefault(agent, message)

    def counts_line(self) -> str:
        return (
            f"{self.completed} played, {self.already_done} already done, {self.deals} deals, "
            f"{self.error_attempts} failed attempts, {self.elapsed_s:.1f} s"
        )

    def report_problems(self, run_dir: Path, command: str) -> int:
        """Say on stderr what is still missing (the runner said when a model was stopped); the exit code."""
        if not self.failed:
            return 0
        print(
            f"{self.failed} episode(s) could not be played (see {run_dir / 'errors.jsonl'}); "
            f"rerun the same `{command}` command to try them again",
            file=sys.stderr,
        )
        return 1


def turn_usage(turns: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Summed usage of a list of stored turns; `requests` counts the turns that made one."""
    total: Counter[str] = Counter()
    for turn in turns:
        usage = turn.get("usage") or {}
        if usage:
            total["requests"] += 1
        for key in _USAGE_FIELDS:
            if isinstance(usage.get(key), int | float):
                total[key] += usage[key]
    return dict(total)


def episode_record(
    job: EpisodeJob, episode: Episode, agents: dict[str, Agent], attempt: int
) -> dict[str, Any]:
    record = episode.as_record()
    specs = {"buyer": job.buyer, "seller": job.seller}
    return {
        "episode_id": job.episode_id,
        "status": "ok",
        "metadata": job.metadata,
        "agents": {role: specs[role].to_dict() | {"version": agents[role].version} for role in ROLES},
        "prompt_version": PROMPT_VERSION,
        "rules": asdict(episode.negotiation.rules),
        "usage": {role: turn_usage(t for t in record["turns"] if t["role"] == role) for role in ROLES},
        "attempts": attempt,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **record,
    }


class _Progress:
    """tqdm bar with deals, errors and the ETA; a no-op when progress is off."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=total,
            initial=done,
            desc="episodes",
            unit="ep",
            file=sys.stderr,
            disable=not enabled,
            dynamic_ncols=True,
        )
        self.deals = self.errors = self.failed = 0

    def update(
        self, *, finished: bool = False, deal: bool = False, error: bool = False, failed: bool = False
    ):
        self.deals += deal
        self.errors += error
        self.failed += failed
        self.bar.set_postfix(deals=self.deals, errors=self.errors, failed=self.failed, refresh=False)
        if finished or failed:
            self.bar.update()
        else:
            self.bar.refresh()

    def advance_to(self, done: int) -> None:
        self.bar.update(done - self.bar.n)

    def say(self, message: str) -> None:
        self.bar.write(message, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


async def run_jobs(
    jobs: Iterable[EpisodeJob],
    store: EpisodeStore,
    *,
    concurrency: int,
    max_attempts: int = 3,
    rules: ProtocolRules | None = None,
    progress: bool = True,
    announce: bool = True,
) -> RunSummary:
    """Play every job the store does not have yet; return what happened. `announce`: say on stderr, once, when a
    model is stopped (a worker process leaves that to its parent, which has the other workers' stops too)."""
    if concurrency < 1 or max_attempts < 1:
        raise ValueError("concurrency and max_attempts must be at least 1")
    unique = list({job.episode_id: job for job in jobs}.values())
    done = store.completed_ids()
    pending = [job for job in unique if job.episode_id not in done]
    summary = RunSummary(jobs=len(unique), already_done=len(unique) - len(pending))
    bar = _Progress(len(unique), summary.already_done, progress)
    queue = list(reversed(pending))
    usage: dict[str, Counter[str]] = defaultdict(Counter)
    specs = {spec.name: spec for job in pending for spec in (job.buyer, job.seller)}
    for spec in specs.values():
        build_agent(spec, "buyer", 0)  # a bad spec (unknown strategy, missing extra) fails before any work
    models = {name: shared_backend(spec) for name, spec in specs.items() if spec.kind != "scripted"}
    for backend in models.values():  # a model stopped by an earlier run in this process gets another chance
        backend.reset()

    def log_error(job: EpisodeJob, attempt: int, error: BaseException, kind: str) -> None:
        summary.error_attempts += 1
        store.record_error(
            {
                "episode_id": job.episode_id,
                "attempt": attempt,
                "kind": kind,
                "error": redact(f"{type(error).__name__}: {error}"),
                "buyer": job.buyer.name,
                "seller": job.seller.name,
                "time": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )

    def announce_stops() -> None:
        for name, backend in models.items():
            if backend.stopped and name not in summary.stopped:
                summary.stopped[name] = backend.stopped
                if announce:
                    bar.say(backend.stopped)

    async def play(job: EpisodeJob) -> None:
        for attempt in range(1, max_attempts + 1):
            agents = {
                "buyer": build_agent(job.buyer, "buyer", derive_seed(job.episode_id, "buyer")),
                "seller": build_agent(job.seller, "seller", derive_seed(job.episode_id, "seller")),
            }
            try:
                episode = await play_episode(job.scenario, agents["buyer"], agents["seller"], rules)
            except ModelStopped as error:
                log_error(job, attempt, error, "model_stopped")
                announce_stops()
                break  # retrying cannot help until the model is fixed
            except Exception as error:  # an endpoint failure or a bug: either way, not a "no deal"
                log_error(job, attempt, error, "infrastructure")
                announce_stops()
                bar.update(error=True)
                continue
            finally:
                for agent in agents.values():
                    await agent.aclose()
            record = episode_record(job, episode, agents, attempt)
            store.write(record)  # one short commit: cheaper than a hop to a thread
            summary.completed += 1
            summary.deals += episode.outcome.deal
            for role in ROLES:
                usage[job.buyer.name if role == "buyer" else job.seller.name].update(record["usage"][role])
            bar.update(finished=True, deal=episode.outcome.deal)
            return
        summary.failed += 1
        bar.update(failed=True)

    async def worker() -> None:
        while queue:
            await play(queue.pop())

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(pending)))))
    finally:
        summary.elapsed_s = time.perf_counter() - started
        bar.close()
        await close_backends()
    summary.usage = {name: dict(counts) for name, counts in usage.items() if counts}
    summary.requests = int(sum(counts.get("requests", 0) for counts in usage.values()))
    summary.backends = {name: backend.stats() for name, backend in models.items()}
    return summary


def default_workers(pending: int) -> int:
    """One worker process per core beyond the first (at most 8), but no more than one per 64 pending episodes."""
    return max(1, min(_WORKERS_MAX, (os.cpu_count() or 1) - 1, pending // _EPISODES_PER_WORKER))


def run_jobs_sync(
    jobs: Iterable[EpisodeJob],
    store: EpisodeStore,
    *,
    concurrency: int,
    max_attempts: int = 3,
    rules: ProtocolRules | None = None,
    progress: bool = True,
    workers: int | None = 1,
) -> RunSummary:
    """`run_jobs` in `workers` processes (None: `default_workers`), `concurrency` negotiations in flight in all."""
    unique = list({job.episode_id: job for job in jobs}.values())
    done = store.completed_ids()
    pending = [job for job in unique if job.episode_id not in done]
    count = default_workers(len(pending)) if workers is None else workers
    if count < 1:
        raise ValueError("workers must be at least 1")
    if count == 1 or len(pending) < 2:
        return asyncio.run(
            run_jobs(
                unique,
                store,
                concurrency=concurrency,
                max_attempts=max_attempts,
                rules=rules,
                progress=progress,
            )
        )
    summary = RunSummary(jobs=len(unique), already_done=len(unique) - len(pending))
    count = min(count, len(pending))
    shares = [pending[index::count] for index in range(count)]
    bar = _Progress(len(unique), summary.already_done, progress)
    started = time.perf_counter()
    try:
        for part in _run_in_processes(shares, store, -(-concurrency // count), max_attempts, rules, bar):
            summary.add(part)
    finally:
        summary.elapsed_s = time.perf_counter() - started
        bar.close()
    for message in summary.stopped.values():
        print(message, file=sys.stderr)
    return summary


def _run_in_processes(
    shares: list[list[EpisodeJob]],
    store: EpisodeStore,
    concurrency: int,
    max_attempts: int,
    rules: ProtocolRules | None,
    bar: _Progress,
) -> list[RunSummary]:
    """Each share in its own process; their summaries. The bar follows the store's count meanwhile."""
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads and sockets
    # pipes, not a Queue: no semaphores to leak on Ctrl-C
    pipes = [context.Pipe(duplex=False) for _ in shares]
    arguments = (store.run_dir, concurrency, max_attempts, rules, os.getpid())
    processes = [
        context.Process(target=_worker, args=(share, *arguments, sender), daemon=True)
        for share, (_, sender) in zip(shares, pipes, strict=True)
    ]
    waiting = {receiver: process for (receiver, _), process in zip(pipes, processes, strict=True)}
    baseline = store.count() - bar.bar.n
    parts: list[RunSummary] = []
    try:
        with _interrupt_deferred():
            for process in processes:
                process.start()
        for _, sender in pipes:
            sender.close()  # the worker holds it now: its end of file says the worker died
        while waiting:
            for ready in multiprocessing.connection.wait(list(waiting), timeout=0.25):
                receiver = cast(Connection, ready)
                process = waiting.pop(receiver)
                try:
                    parts.append(receiver.recv())
                except EOFError:
                    process.join()
                    raise WorkerFailed(
                        f"a worker process exited with code {process.exitcode}; its finished "
                        "episodes are stored: rerun the same command to play the rest"
                    ) from None
            bar.advance_to(store.count() - baseline)
    finally:
        for process in processes:
            if process.pid is None:  # interrupted before it started
                continue
            if process.is_alive() and waiting:
                process.terminate()  # like a kill: what it committed stays, the rest is played on resume
            process.join()
        for receiver, sender in pipes:
            receiver.close()
            sender.close()
    return parts


@contextmanager
def _interrupt_deferred() -> Iterator[None]:
    """Ctrl-C waits until every worker has its whole share (a cut one prints the worker's traceback), then raises.
    The workers inherit the blocked SIGINT: Ctrl-C is this process's to handle, and it stops them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: caught.append(number))
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def _worker(
    share: list[EpisodeJob],
    run_dir: Path,
    concurrency: int,
    max_attempts: int,
    rules: ProtocolRules | None,
    parent: int,
    results: Connection,
) -> None:
    """One worker process: its share into the shared store. Ctrl-C is the parent's to handle; if the parent is
    killed, the worker stops too (what it committed stays)."""
    from tqdm import tqdm

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # not tqdm's default process lock: a terminated worker would leak its semaphore
    tqdm.set_lock(threading.RLock())
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    with EpisodeStore(run_dir) as store:
        summary = asyncio.run(
            run_jobs(
                share,
                store,
                concurrency=concurrency,
                max_attempts=max_attempts,
                rules=rules,
                progress=False,
                announce=False,
            )
        )
    results.send(summary)


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(1)


def interrupted(run_dir: Path, command: str) -> int:
    """After Ctrl-C: one line saying what was kept and how to go on (not a traceback); exit code 130."""
    with EpisodeStore(run_dir) as store:
        saved = store.count()
    print(
        f"\ninterrupted: {saved} finished episode(s) are saved in {run_dir}; rerun the same `{command}` command "
        "to resume",
        file=sys.stderr,
    )
    return 130
