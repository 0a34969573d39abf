"""`haggle export RUN_DIR --out episodes.jsonl`: a run's stored episodes as JSON Lines, for tools that do not read
SQLite (pandas, jq, `datasets.load_dataset("json", ...)`). One strict-JSON record a line, in episode-id order."""

from __future__ import annotations

import argparse
from pathlib import Path

from haggle.data.episode_store import EpisodeStore, export_jsonl


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="a run's episodes as JSON Lines")
    parser.add_argument("run_dir", type=Path, help="a tournament, eval, experiment or bench run directory")
    parser.add_argument("--out", type=Path, required=True, help="the .jsonl file to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not (args.run_dir / "episodes").is_dir() or EpisodeStore(args.run_dir).count() == 0:
        raise SystemExit(f"haggle export: no episodes stored in {args.run_dir}")
    count = export_jsonl(args.run_dir, args.out)
    print(f"wrote {count} episodes to {args.out}")
    return 0
