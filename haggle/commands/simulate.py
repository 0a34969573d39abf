"""`haggle simulate`: scripted agents against each other on sampled scenarios; prints the aggregate metrics."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from haggle.commands.summary_table import format_summary
from haggle.env.agents import AGENT_REGISTRY, create_agent
from haggle.env.episode_loop import Episode, play_episodes
from haggle.env.metrics import summarise_by_tier
from haggle.env.scenario import Role, SamplerConfig, ScenarioSampler


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        description=__doc__,
        epilog=f"agents: {', '.join(sorted(AGENT_REGISTRY))}",
    )
    parser.add_argument("--buyer", required=True, help="scripted strategy for the buyer (e.g. boulware)")
    parser.add_argument("--seller", required=True, help="scripted strategy for the seller (e.g. conceder)")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--config", type=Path, help="YAML with a `scenarios:` block (default: built-in sampler)"
    )
    parser.add_argument(
        "--out", type=Path, help="write every episode (scenario, events, outcome) as JSON lines"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.episodes < 1:
        raise SystemExit("--episodes must be at least 1")
    sampler = ScenarioSampler(SamplerConfig.from_yaml(args.config) if args.config else SamplerConfig())
    scenarios = sampler.sample(args.episodes, args.seed)
    names: dict[Role, str] = {"buyer": args.buyer, "seller": args.seller}
    try:
        for role, name in names.items():
            create_agent(name, role=role)  # fail on a bad name before any work
    except ValueError as error:
        raise SystemExit(str(error)) from None
    bar = tqdm(
        total=len(scenarios),
        desc="episodes",
        unit="ep",
        disable=len(scenarios) < 5000 or None,
        file=sys.stderr,
    )
    episodes: list[Episode] = play_episodes(
        scenarios,
        lambda role, scenario: create_agent(names[role], role=role, seed=scenario.seed),
        progress=lambda _: bar.update(),
        keep_turns=False,
    )
    bar.close()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", encoding="utf-8") as handle:
            for episode in episodes:
                handle.write(json.dumps(episode.as_record()) + "\n")
    summary = summarise_by_tier([(e.scenario, e.outcome) for e in episodes], sampler.tier_names)
    summary = {"buyer": args.buyer, "seller": args.seller, "seed": args.seed} | summary
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0
