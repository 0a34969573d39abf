"""`haggle play`: one negotiation between scripted agents, shown as a readable transcript."""

from __future__ import annotations

import argparse
from pathlib import Path

from haggle.env.agents import AGENT_REGISTRY, create_agent
from haggle.env.episode_loop import play_episodes
from haggle.env.scenario import SamplerConfig, ScenarioSampler


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "play", description=__doc__, epilog=f"agents: {', '.join(sorted(AGENT_REGISTRY))}"
    )
    parser.add_argument("--buyer", default="linear")
    parser.add_argument("--seller", default="boulware")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--index", type=int, default=0, help="which scenario of the seeded sample to play")
    parser.add_argument("--config", type=Path, help="YAML with a `scenarios:` block")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sampler = ScenarioSampler(SamplerConfig.from_yaml(args.config) if args.config else SamplerConfig())
    scenario = sampler.sample(args.index + 1, args.seed)[args.index]
    names = {"buyer": args.buyer, "seller": args.seller}
    try:
        (episode,) = play_episodes(
            [scenario], lambda role, s: create_agent(names[role], role=role, seed=s.seed)
        )
    except ValueError as error:
        raise SystemExit(str(error)) from None
    domain, fmt = scenario.domain, scenario.domain.format_price
    print(f"{scenario.scenario_id}: {scenario.item.title} ({domain.name}, tier {scenario.price_tier})")
    print(f"  {domain.buyer_label} ({args.buyer}) values it at {fmt(scenario.buyer_value)} [private]")
    print(f"  {domain.seller_label} ({args.seller}) has cost {fmt(scenario.seller_cost)} [private]")
    print(
        f"  public prior: both in [{fmt(scenario.value_low)}, {fmt(scenario.value_high)}]; "
        f"{scenario.first_mover} moves first; {scenario.max_rounds} rounds\n"
    )
    for event in episode.negotiation.events:
        who = domain.label(event.actor) if event.actor else "environment"
        details = ", ".join(
            f"{key}={fmt(value) if key == 'price' else value}" for key, value in event.payload.items()
        )
        print(f"  round {event.round:>2}  {who:>22}: {event.kind}{'  ' + details if details else ''}")
    outcome = episode.outcome
    print()
    if outcome.deal:
        shares = ", ".join(
            f"{role} {outcome.surplus_share(role):.0%}"
            for role in ("buyer", "seller")
            if outcome.surplus_share(role) is not None
        )
        print(
            f"Deal at {fmt(outcome.price or 0)} after {outcome.rounds} round(s). Surplus shares: {shares or 'n/a'}."
        )
    else:
        print(f"No deal ({outcome.end_reason}). Gains available: {fmt(outcome.available_gains)}.")
    return 0
