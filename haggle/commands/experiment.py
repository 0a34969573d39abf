"""`haggle experiment`: run a preset from the bargaining literature and report it like the paper's tables.

    haggle experiment run configs/experiments/multi_turn_k5.yaml --out runs/experiments/k5
    haggle experiment run configs/experiments/disclosure.yaml --variant tiny --out runs/experiments/disclosure-tiny
    haggle experiment report runs/experiments/k5            # writes report.md, report.json and the PNG plots

`run` is resumable: the same command into the same directory plays only the episodes that are missing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "experiment", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="experiment_command", required=True, metavar="ACTION")

    run = commands.add_parser("run", help="play a preset into a run directory (resumable)")
    run.add_argument("config", type=Path, help="a preset, e.g. configs/experiments/multi_turn_k5.yaml")
    run.add_argument("--out", type=Path, required=True, help="run directory (created; reused to resume)")
    run.add_argument("--variant", help="a named override from the preset's `variants:` (e.g. tiny)")
    run.add_argument("--episodes", type=int, help="scenarios per model and condition (overrides the preset)")
    run.add_argument("--concurrency", type=int, help="negotiations in flight (overrides the preset)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--report", action="store_true", help="write the report when the run is complete")
    run.set_defaults(func=run_command)

    report = commands.add_parser("report", help="tables and plots of a run directory")
    report.add_argument("run_dir", type=Path)
    report.add_argument("--json", action="store_true", help="print the report as JSON instead of markdown")
    report.set_defaults(func=report_command)


def run_command(args: argparse.Namespace) -> int:
    from haggle.eval.experiments.experiment_config import ExperimentConfig, load_experiment
    from haggle.eval.experiments.run import run_experiment

    try:
        _, resolved = load_experiment(args.config, args.variant)
        if args.episodes is not None:
            resolved["episodes"] = args.episodes
        config = ExperimentConfig.from_mapping(resolved)
        summary = run_experiment(
            config, resolved, args.out, concurrency=args.concurrency, progress=not args.no_progress
        )
    except (ValueError, FileNotFoundError, KeyError) as error:
        raise SystemExit(f"haggle experiment run: {error}") from None
    planned = summary.agent_episodes + summary.mechanism_episodes
    print(
        f"{config.name}: {summary.stored}/{planned} episodes stored in {args.out} "
        f"({summary.agent_episodes} agent, {summary.mechanism_episodes} mechanism)"
    )
    if summary.stored < planned:
        print(f"{planned - summary.stored} episode(s) failed: rerun the same command to retry them")
        return 1
    if args.report:
        return report_command(argparse.Namespace(run_dir=args.out, json=False))
    print(f"report: haggle experiment report {args.out}")
    return 0


def report_command(args: argparse.Namespace) -> int:
    from haggle.eval.experiments.experiment_report import write_report

    try:
        report = write_report(args.run_dir)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"haggle experiment report: {error}") from None
    if args.json:
        print(json.dumps(report.data, indent=2))
        return 0
    print(report.markdown)
    plots = ", ".join(path.name for path in report.plots)
    print(
        f"wrote {args.run_dir / 'report.md'}, {args.run_dir / 'report.json'} and plots ({plots}) in {args.run_dir}"
    )
    return 0
