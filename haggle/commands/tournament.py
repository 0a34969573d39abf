"""`haggle tournament`: a round-robin of scripted and LLM agents, resumable, with a live bar and a leaderboard.

    haggle tournament --config configs/tournament/scripted-cpu.yaml --out runs/tournament-cpu
Rerunning the same command resumes: finished episodes are skipped, failed ones are tried again. Ctrl-C stops it
with one line saying what was saved (exit 130); `--workers N` spreads the episodes over N processes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from haggle.data.episode_store import StoreError
from haggle.data.job_runner import WorkerFailed, interrupted
from haggle.data.leaderboard import format_leaderboard
from haggle.data.tournament import TOURNAMENT, TournamentConfig, run_tournament
from haggle.env.config_loading import override
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
    parser.add_argument(
        "--workers",
        type=int,
        help="processes sharing the episodes (default: one per spare CPU core, fewer on small runs)",
    )
    parser.add_argument("--max-attempts", type=int, help="tries per episode whose agent failed (overrides)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the summary and leaderboard as JSON")
    parser.set_defaults(func=run)


def load_config(args: argparse.Namespace) -> TournamentConfig:
    try:
        config = TournamentConfig.from_yaml(args.config)
        overrides = {
            name: getattr(args, name) for name in ("concurrency", "episodes_per_pairing", "max_attempts")
        }
        config = override(config, **{name: value for name, value in overrides.items() if value is not None})
        ScenarioSampler(config.scenarios)  # unknown domains and tiers fail before any work
    except (ValueError, KeyError, FileNotFoundError) as error:
        raise SystemExit(f"haggle tournament: {error}") from None
    return config


def run(args: argparse.Namespace) -> int:
    config = load_config(args)
    try:
        summary, board = run_tournament(config, args.out, progress=not args.no_progress, workers=args.workers)
    except KeyboardInterrupt:
        return interrupted(args.out, TOURNAMENT.command)
    # another game in --out, an unbuildable agent, a worker process killed
    except (ValueError, ImportError, StoreError, WorkerFailed) as error:
        raise SystemExit(f"haggle tournament: {error}") from None
    if args.json:
        print(json.dumps({"summary": summary.to_dict(), "leaderboard": board}, indent=2))
    else:
        print(format_leaderboard(board))
        print(f"\n{summary.counts_line()} ({summary.requests_per_second:.1f} model requests/s)")
    return summary.report_problems(args.out, TOURNAMENT.command)
