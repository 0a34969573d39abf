"""Tournament throughput against a latency-bound endpoint: model requests per second, and the client's CPU cost.

A local OpenAI-compatible server (`haggle.testing.chat_server`, a separate process, told the tournament's scenarios)
answers every request after a fixed delay L, like a remote model. Two endpoint agents play a tournament through the
real `openai` client with C negotiations in flight, in 1 or more worker processes. With C episodes in flight and
one request per episode at a time, the ideal rate is C / L; the target is at least 0.8 x C / L wherever the cores
can serve it. The client's own CPU per request (this process and its workers, not the server) sets that ceiling:
cores / (CPU ms per request) requests per second.

Each run is sized to last about --seconds: a pilot run against an instant server first measures the requests per
episode and the most requests/s client and server manage together, so the episode count rests on neither a guess
nor an ideal rate nobody reaches. Reported per (C, L, workers), best of --repeats: requests/s, C/L, the ratio, the
client's and the server's CPU ms per request, and the client's ceiling that implies.

    python benchmarks/bench_tournament_throughput.py --delay 0.05 0.5 2.0 --concurrency 8 64 256 --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from haggle.data.episode_store import EpisodeStore
from haggle.data.job_runner import RunSummary, run_jobs_sync
from haggle.data.tournament import TournamentConfig, tournament_jobs

from haggle.testing.chat_server import write_scenarios

PILOT_EPISODES = 40


def tournament(base_url: str, episodes: int, seed: int) -> TournamentConfig:
    agent = {"kind": "openai", "params": {"base_url": base_url, "timeout": 60}}
    return TournamentConfig.from_mapping(
        {
            "seed": seed,
            "episodes_per_pairing": max(2, episodes // 2),
            "scenarios": {"tiers": [100, 1000, 10000]},
            "agents": [
                {"name": "alpha", **agent, "params": {**agent["params"], "model": "boulware"}},
                {"name": "beta", **agent, "params": {**agent["params"], "model": "conceder"}},
            ],
        }
    )


class Server:
    """The chat server in its own process (its CPU is not the client's), told every scenario it will be asked."""

    def __init__(self, delay: float, configs: list[TournamentConfig]) -> None:
        self.folder = tempfile.TemporaryDirectory()
        scenarios = [job.scenario for config in configs for job in tournament_jobs(config)]
        path = write_scenarios(scenarios, Path(self.folder.name) / "scenarios.jsonl")
        command = ["-m", "haggle.testing.chat_server", "--port", "0", "--delay", str(delay), "--scenarios"]
        self.process = subprocess.Popen(
            [sys.executable, *command, str(path)], stdout=subprocess.PIPE, text=True
        )
        line = self.process.stdout.readline() if self.process.stdout else ""
        if "http://" not in line:
            self.close()
            raise RuntimeError(f"the chat server did not start: {line!r}")
        self.base_url = line.strip().split()[-1]

    def cpu_s(self) -> float:
        """The server's CPU seconds so far (Linux /proc: utime + stime)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self.folder.cleanup()


def client_cpu_s() -> float:
    """CPU seconds of this process and of its reaped children (the worker processes; the server is reaped last)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def play(config: TournamentConfig, concurrency: int, workers: int) -> tuple[RunSummary, float]:
    with tempfile.TemporaryDirectory() as run_dir, EpisodeStore(run_dir) as store:
        started = client_cpu_s()
        summary = run_jobs_sync(
            tournament_jobs(config), store, concurrency=concurrency, progress=False, workers=workers
        )
        return summary, client_cpu_s() - started


def pilot(base_url: str) -> tuple[float, float]:
    """Requests per episode (the policies and the protocol decide it, not the delay) and requests/s at no delay."""
    summary, _ = play(tournament(base_url, PILOT_EPISODES, seed=10_000), concurrency=16, workers=1)
    return summary.requests / summary.completed, summary.requests_per_second


def episodes_for(concurrency: int, delay: float, seconds: float, per_episode: float, capacity: float) -> int:
    """Enough episodes to keep C in flight for about `seconds` at the rate C/L or the capacity, whichever is lower,
    and at least 2 rounds of C."""
    rate = min(concurrency / delay, capacity)
    return max(2 * concurrency, int(seconds * rate / per_episode))


def measure(server: Server, config: TournamentConfig, concurrency: int, delay: float, workers: int) -> dict:
    server_started = server.cpu_s()
    summary, cpu_s = play(config, concurrency, workers)
    server_cpu_s = server.cpu_s() - server_started
    ideal = concurrency / delay
    cpu_ms = 1000 * cpu_s / max(summary.requests, 1)
    return {
        "concurrency": concurrency,
        "delay_s": delay,
        "workers": workers,
        "episodes": summary.completed,
        "requests": summary.requests,
        "seconds": round(summary.elapsed_s, 2),
        "requests_per_s": round(summary.requests_per_second, 1),
        "ideal_per_s": round(ideal, 1),
        "ratio": round(summary.requests_per_second / ideal, 3),
        "client_cpu_ms_per_request": round(cpu_ms, 3),
        "server_cpu_ms_per_request": round(1000 * server_cpu_s / max(summary.requests, 1), 3),
        "cpu_ceiling_per_s": round(min(workers, os.cpu_count() or 1) * 1000 / cpu_ms, 1),
        "meets_target": summary.requests_per_second >= 0.8 * ideal,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--delay", type=float, nargs="+", default=[0.05], help="server seconds per answer (L)"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 64], help="episodes in flight (C)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="client worker processes")
    parser.add_argument("--seconds", type=float, default=10.0, help="about how long each timed run lasts")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    instant = Server(0.0, [tournament("", PILOT_EPISODES, seed=10_000)])
    try:
        per_episode, capacity = pilot(instant.base_url)
    finally:
        instant.close()
    print(json.dumps({"requests_per_episode": round(per_episode, 2), "capacity_per_s": round(capacity, 1)}))

    for delay in args.delay:
        plans = {
            (concurrency, workers, seed): episodes_for(
                concurrency, delay, args.seconds, per_episode, capacity
            )
            for concurrency in args.concurrency
            for workers in args.workers
            for seed in range(args.repeats)
        }
        seeds = {key: index for index, key in enumerate(plans)}  # every run on scenarios of its own
        server = Server(delay, [tournament("", plans[key], seeds[key]) for key in plans])
        try:
            for concurrency in args.concurrency:
                for workers in args.workers:
                    runs = [
                        measure(
                            server,
                            tournament(server.base_url, plans[key], seeds[key]),
                            concurrency,
                            delay,
                            workers,
                        )
                        for key in plans
                        if key[:2] == (concurrency, workers)
                    ]
                    print(json.dumps(max(runs, key=lambda run: run["requests_per_s"])), flush=True)
        finally:
            server.close()


if __name__ == "__main__":
    main()
