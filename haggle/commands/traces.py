"""`haggle traces`: stored episodes -> a TRL conversational SFT dataset (DatasetDict + dataset card).

haggle traces runs/tournament-cpu --out runs/traces --deals-only --min-surplus-share 0.5 --no-violations
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from haggle.data.episode_store import EpisodeStore, StoreError
from haggle.data.traces import ReplayError, TraceFilters, write_traces


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("traces", description=__doc__)
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR", help="run directories to read")
    parser.add_argument("--out", type=Path, required=True, help="dataset directory (load_from_disk)")
    parser.add_argument("--roles", nargs="+", choices=["buyer", "seller"], default=["buyer", "seller"])
    parser.add_argument("--agents", nargs="+", help="keep sides played by these agents")
    parser.add_argument("--tiers", nargs="+", help="keep these price tiers")
    parser.add_argument("--deals-only", action="store_true", help="keep episodes that closed a deal")
    parser.add_argument(
        "--min-surplus-share", type=float, help="keep sides that captured at least this share"
    )
    parser.add_argument(
        "--no-deal-without-gains",
        action="store_true",
        help="also keep sides that closed no deal where there were no gains from trade (the right call there)",
    )
    parser.add_argument("--no-violations", action="store_true", help="drop sides that made an invalid move")
    parser.add_argument("--keep-duplicates", action="store_true", help="keep identical conversations")
    parser.add_argument("--no-reasoning", action="store_true", help="drop the models' reasoning")
    parser.add_argument("--validation-fraction", type=float, default=0.1, help="share of scenarios held out")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    missing = [str(run_dir) for run_dir in args.run_dirs if not (run_dir / "episodes").is_dir()]
    if missing:
        raise SystemExit(f"haggle traces: not a run directory (no episodes/): {', '.join(missing)}")
    empty = [str(run_dir) for run_dir in args.run_dirs if EpisodeStore(run_dir).count() == 0]
    if empty:
        raise SystemExit(
            f"haggle traces: no episodes stored yet in {', '.join(empty)}: run `haggle tournament` into it first"
        )
    if not 0 <= args.validation_fraction < 1:
        raise SystemExit("haggle traces: --validation-fraction must be in [0, 1)")
    filters = TraceFilters(
        roles=tuple(args.roles),
        agents=tuple(args.agents) if args.agents else None,
        tier_names=tuple(args.tiers) if args.tiers else None,
        deals_only=args.deals_only,
        min_surplus_share=args.min_surplus_share,
        no_deal_without_gains=args.no_deal_without_gains,
        no_violations=args.no_violations,
        dedupe=not args.keep_duplicates,
        include_reasoning=not args.no_reasoning,
    )
    try:
        manifest = write_traces(args.run_dirs, args.out, filters, args.validation_fraction)
    except (ValueError, FileExistsError, StoreError, ReplayError) as error:
        raise SystemExit(f"haggle traces: {error}") from None
    if args.json:
        print(json.dumps(manifest, indent=2))
    else:
        for split, counts in manifest["counts"].items():
            print(
                f"{split:>10}: {counts['examples']} examples from {counts['scenarios']} scenarios, "
                f"{counts['deals']} with a deal, roles {counts['by_role']}"
            )
        print(f"saved to {args.out} (dataset card: {args.out / 'README.md'})")
    return 0
