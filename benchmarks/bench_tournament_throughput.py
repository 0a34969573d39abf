"""Tournament throughput against a latency-bound endpoint: model requests per second at a given concurrency.

A local OpenAI-compatible server (`haggle.testing.chat_server`, a separate process, told the tournament's scenarios)
answers every request after a fixed delay, like a remote model. Two endpoint agents play a tournament through the real `openai` client with
`concurrency` negotiations in flight. With C episodes in flight and one request per episode at a time, the ideal
rate is C / delay; the target is at least 0.8 x C / delay. Reported per concurrency: requests/s, the target and
whether it was met (best of --repeats runs).

    python benchmarks/bench_tournament_throughput.py --delay 0.05 --concurrency 8 16 32 64
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from haggle.data.episode_store import EpisodeStore
from haggle.data.job_runner import run_jobs_sync
from haggle.data.tournament import TournamentConfig, tournament_jobs

from haggle.testing.chat_server import write_scenarios


def tournament(base_url: str, episodes: int, seed: int) -> TournamentConfig:
    agent = {"kind": "openai", "params": {"base_url": base_url, "timeout": 30}}
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


def start_server(delay: float, scenarios: Path) -> tuple[subprocess.Popen, str]:
    command = ["-m", "haggle.testing.chat_server", "--port", "0", "--delay", str(delay), "--scenarios"]
    server = subprocess.Popen([sys.executable, *command, str(scenarios)], stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline() if server.stdout else ""
    if "http://" not in line:
        server.kill()
        raise RuntimeError(f"the chat server did not start: {line!r}")
    return server, line.strip().split()[-1]


def episodes_for(concurrency: int, delay: float, seconds: float) -> int:
    requests_per_episode = 12  # about: 10 rounds, two agents, deals close early
    return max(4, int(seconds * concurrency / delay / requests_per_episode))


def measure(base_url: str, concurrency: int, delay: float, seconds: float, seed: int) -> dict:
    config = tournament(base_url, episodes_for(concurrency, delay, seconds), seed)
    with tempfile.TemporaryDirectory() as run_dir:
        summary = run_jobs_sync(
            tournament_jobs(config), EpisodeStore(Path(run_dir)), concurrency=concurrency, progress=False
        )
    target = 0.8 * concurrency / delay
    return {
        "concurrency": concurrency,
        "delay_s": delay,
        "episodes": summary.completed,
        "requests": summary.requests,
        "seconds": round(summary.elapsed_s, 2),
        "requests_per_s": round(summary.requests_per_second, 1),
        "ideal_per_s": round(concurrency / delay, 1),
        "target_per_s": round(target, 1),
        "meets_target": summary.requests_per_second >= target,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--delay", type=float, default=0.05, help="seconds the server waits before answering")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--seconds", type=float, default=5.0, help="rough length of each timed run")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    planned = [
        job.scenario
        for concurrency in args.concurrency
        for seed in range(args.repeats)
        for job in tournament_jobs(tournament("", episodes_for(concurrency, args.delay, args.seconds), seed))
    ]
    with tempfile.TemporaryDirectory() as folder:
        server, base_url = start_server(
            args.delay, write_scenarios(planned, Path(folder) / "scenarios.jsonl")
        )
    try:
        for concurrency in args.concurrency:
            runs = [
                measure(base_url, concurrency, args.delay, args.seconds, seed) for seed in range(args.repeats)
            ]
            print(json.dumps(max(runs, key=lambda run: run["requests_per_s"])), flush=True)
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
