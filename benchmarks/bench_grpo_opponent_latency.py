"""Opponent time per GRPO step against an LLM opponent endpoint at a fixed latency: concurrent, not rollouts x turns.

A loopback chat server (`haggle.testing.chat_server`, every answer delayed by --latency L) plays the opponent of G
rollouts (`training.negotiation_env`, `deferred=True` as training/grpo.py builds them). The step is driven in the
order TRL 1.16's tool loop uses: each rollout's `reset` in turn, then for T turns each rollout's tool call in turn,
then the replies read rollout by rollout (`resolve_pending_replies`, as `LockstepGRPOTrainer` does before
tokenizing). The model's side is a fixed lowball offer, so no generation time is counted: only the opponent's.
Reported: opponent time per step next to T x L (concurrent ideal: the opening and T answers, so about (T+1) x L)
and its ratio to G x T x L (what awaiting each rollout's opponent in turn costs), plus the work per episode
(turns played, requests sent). `--sequential` also times TRL's own way (async tools awaited one by one) for G' rollouts.

    python benchmarks/bench_grpo_opponent_latency.py --rollouts 32 --turns 5 --latency 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from haggle.env.negotiation import ProtocolRules
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from haggle.training.negotiation_env import (
    NegotiationEnv,
    environment_factory,
    opponent_from_spec,
    resolve_pending_replies,
)
from haggle.training.scenario_table import build_scenario_table

from haggle.testing.chat_server import ChatServer, ServedModel


def opponent_spec(server: ChatServer) -> dict[str, Any]:
    params = {"model": "opponent", "base_url": server.base_url, "timeout": 30.0, "retry": {"max_retries": 0}}
    return {"name": "opponent", "kind": "openai", "params": params}


def lowball(env: NegotiationEnv) -> dict[str, Any]:
    return {"price": env.scenario.value_low}


def deferred_step(envs: list[NegotiationEnv], rows: list[dict[str, Any]], turns: int) -> tuple[float, float]:
    """Seconds of one step in TRL's order (resets, then per turn every rollout's call, then every reply read),
    and of its opening alone (the first requests also open the HTTP connections)."""
    start = time.perf_counter()
    openings = [{"role": "user", "content": env.reset(**row)} for env, row in zip(envs, rows, strict=True)]
    resolve_pending_replies(openings)
    opened = time.perf_counter()
    for _ in range(turns):
        replies = [{"role": "tool", "content": env.make_offer(**lowball(env))} for env in envs]
        for reply in replies:
            resolve_pending_replies([reply])
    return time.perf_counter() - start, opened - start


def sequential_step(envs: list[NegotiationEnv], rows: list[dict[str, Any]], turns: int) -> float:
    """Seconds of one step with async tools awaited one rollout at a time, as TRL's loop awaits them."""

    async def turn(env: NegotiationEnv) -> str:
        return await env.make_offer(**lowball(env))

    start = time.perf_counter()
    for env, row in zip(envs, rows, strict=True):
        env.reset(**row)
    for _ in range(turns):
        for env in envs:
            asyncio.run(turn(env))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rollouts", type=int, default=32, help="G: rollouts per step")
    parser.add_argument("--turns", type=int, default=5, help="T: model turns per rollout")
    parser.add_argument("--latency", type=float, default=0.2, help="L: seconds before every opponent answer")
    parser.add_argument("--max-concurrent", type=int, default=64, help="opponent requests in flight at once")
    parser.add_argument("--sequential", type=int, default=0, help="G': also time TRL's one-by-one way")
    args = parser.parse_args()

    sampler = ScenarioSampler(SamplerConfig(max_rounds=args.turns + 2))  # no episode ends by the round limit
    rows = build_scenario_table(
        sampler, args.rollouts, seed=0, opponents={"opponent": 1.0}, roles=["buyer"]
    )  # the seller opens
    rules = ProtocolRules()
    result: dict[str, Any] = {"rollouts": args.rollouts, "turns": args.turns, "latency_s": args.latency}
    with ChatServer({"opponent": ServedModel("boulware")}, delay=args.latency) as server:
        server.register(sampler.draw(r["scenario_seed"], tier=r["tier"], domain=r["domain"]) for r in rows)
        opponent = {"opponent": opponent_from_spec(opponent_spec(server))}
        make = environment_factory(
            sampler, opponent, rules, max_concurrent=args.max_concurrent, deferred=True
        )
        envs = [make() for _ in rows]
        seconds, opening = deferred_step(envs, rows, args.turns)
        requests = server.counts[("opponent", "request")]
        serial = args.rollouts * args.turns * args.latency
        result |= {
            "opponent_s_per_step": round(seconds, 3),
            "turns_x_latency_s": round(args.turns * args.latency, 3),
            "ratio_to_T_L": round(seconds / (args.turns * args.latency), 2),
            "rollouts_x_turns_x_latency_s": round(serial, 3),
            "ratio_to_G_T_L": round(seconds / serial, 4),
            "opening_s": round(opening, 3),
            "per_turn_s": round((seconds - opening) / args.turns, 3),
            "episode_turns": sum(env.negotiation.turn_count for env in envs) / len(envs),
            "episode_requests": requests / len(envs),
            "deals": sum(bool(env.negotiation.outcome and env.negotiation.outcome.deal) for env in envs),
            "opponent_failures": sum(env.opponent_failure is not None for env in envs),
        }
        if args.sequential:
            count = args.sequential
            awaited = environment_factory(sampler, opponent, rules, max_concurrent=args.max_concurrent)
            seconds = sequential_step([awaited() for _ in range(count)], rows[:count], args.turns)
            result |= {
                "sequential_rollouts": count,
                "sequential_s_per_step": round(seconds, 3),
                "sequential_ratio_to_G_T_L": round(seconds / (count * args.turns * args.latency), 2),
            }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
