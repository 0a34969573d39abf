"""`haggle tournament`: a round-robin of scripted and LLM agents, resumable, with a live bar and a leaderboard.

    haggle tournament --config configs/tournament/scripted-cpu.yaml --out runs/tournament-cpu
Rerunning the same command resumes: finished episodes are skipped, failed ones are tried again.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from haggle.data.episode_store import EpisodeStore, StoreError
from haggle.data.leaderboard import format_leaderboard, leaderboard
from haggle.data.runner import run_jobs_sync
from haggle.data.tournament import TournamentConfig, check_resumable, tournament_jobs
from haggle.env.prompts import PROMPT_VERSION
from haggle.env.scenario import ScenarioSampler


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tournament", help="every ordered pair of agents, both roles, paired scenarios; resumable"
    )
    parser.add_argument(
        "--config", type=Path, required=True, help="tournament YAML (see configs/tournament/)"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="run directory; rerun with the same one to resume"
    )
    parser.add_argument("--concurrency", type=int, help="negotiations in flight (overrides the config)")
    parser.add_argument(
        "--episodes-per-pairing", type=int, help="scenarios per ordered pair (overrides the config)"
    )
    parser.add_argument("--max-attempts", type=int, help="tries per episode whose agent failed (overrides)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the summary and leaderboard as JSON")
    parser.set_defaults(func=run)


def load_config(args: argparse.Namespace) -> TournamentConfig:
    try:
        config = TournamentConfig.from_yaml(args.config)
        for name in ("concurrency", "episodes_per_pairing", "max_attempts"):
            if getattr(args, name) is not None:
                setattr(config, name, getattr(args, name))
        config.__post_init__()
        ScenarioSampler(config.scenarios)  # unknown domains and tiers fail before any work
    except (ValueError, KeyError, FileNotFoundError) as error:
        raise SystemExit(f"haggle tournament: {error}") from None
    return config


def run(args: argparse.Namespace) -> int:
    config = load_config(args)
    store = EpisodeStore(args.out)
    try:
        previous = store.manifest()
        check_resumable(previous, config)
    except (ValueError, StoreError) as error:
        raise SystemExit(f"haggle tournament: {error}") from None
    jobs = tournament_jobs(config)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    store.write_manifest(
        {
            "kind": "tournament",
            "config": config.to_dict(),
            "jobs": len(jobs),
            "prompt_version": PROMPT_VERSION,
            "created_at": (previous or {}).get("created_at", now),
            "resumed_at": now if previous else None,
        }
    )
    try:
        summary = run_jobs_sync(
            jobs,
            store,
            concurrency=config.concurrency,
            max_attempts=config.max_attempts,
            rules=config.rules,
            progress=not args.no_progress,
        )
    except (ValueError, ImportError) as error:  # an agent that cannot be built: nothing was played
        raise SystemExit(f"haggle tournament: {error}") from None
    wanted = {job.episode_id for job in jobs} & store.completed_ids()
    board = leaderboard(
        (store.read(episode_id) for episode_id in sorted(wanted)),
        ScenarioSampler(config.scenarios).tier_names,
    )
    (args.out / "leaderboard.json").write_text(json.dumps(board, indent=2), encoding="utf-8")
    if args.json:
        print(json.dumps({"summary": summary.to_dict(), "leaderboard": board}, indent=2))
    else:
        print(format_leaderboard(board))
        print(f"\n{summary.counts_line()} ({summary.requests_per_second:.1f} model requests/s)")
    return summary.report_problems(args.out, "haggle tournament")
