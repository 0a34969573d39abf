"""Scripted-vs-scripted episodes per second: Haggle's engine beside NegMAS's SAOMechanism, in one run.

Both sides play time-based Boulware (buyer) against Conceder (seller) over a single price issue for 20 steps
(Haggle: 10 rounds = 20 turns), on the same values, one process, one core. Reported: episodes per second of each
(best of --repeats timed blocks) and their ratio. NegMAS is an optional bench dependency: `pip install -e .[bench]`.

    python benchmarks/bench_env_vs_negmas.py --episodes 2000 --negmas-episodes 200
"""

from __future__ import annotations

import argparse
import json
import os
import time

from haggle.env.agents import create_agent
from haggle.env.episode_loop import play_episodes
from haggle.env.scenario import SamplerConfig, ScenarioSampler


def haggle_rate(scenarios) -> float:
    started = time.perf_counter()
    play_episodes(
        scenarios,
        lambda role, s: create_agent("boulware" if role == "buyer" else "conceder", role=role, seed=s.seed),
    )
    return len(scenarios) / (time.perf_counter() - started)


def negmas_rate(scenarios, price_levels: int) -> float:
    from negmas import BoulwareTBNegotiator, ConcederTBNegotiator, SAOMechanism, make_issue
    from negmas.preferences import LinearAdditiveUtilityFunction
    from negmas.preferences.value_fun import AffineFun

    started = time.perf_counter()
    for scenario in scenarios:
        low, high = scenario.value_low, scenario.value_high
        issues = [
            make_issue(
                name="price",
                values=[low + (high - low) * i / (price_levels - 1) for i in range(price_levels)],
            )
        ]
        mechanism = SAOMechanism(issues=issues, n_steps=20)
        buyer = LinearAdditiveUtilityFunction(
            values=[AffineFun(-1.0, scenario.buyer_value)],
            outcome_space=mechanism.outcome_space,
            reserved_value=0.0,
        )
        seller = LinearAdditiveUtilityFunction(
            values=[AffineFun(1.0, -scenario.seller_cost)],
            outcome_space=mechanism.outcome_space,
            reserved_value=0.0,
        )
        mechanism.add(BoulwareTBNegotiator(name="buyer"), preferences=buyer)
        mechanism.add(ConcederTBNegotiator(name="seller"), preferences=seller)
        mechanism.run()
    return len(scenarios) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--negmas-episodes", type=int, default=200)
    parser.add_argument("--price-levels", type=int, default=101, help="NegMAS's discretised price issue")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core for both engines
    sampler = ScenarioSampler(SamplerConfig(max_rounds=10))
    scenarios = sampler.sample(args.episodes, seed=0)
    haggle = max(haggle_rate(scenarios) for _ in range(args.repeats))
    negmas = max(
        negmas_rate(scenarios[: args.negmas_episodes], args.price_levels) for _ in range(args.repeats)
    )
    result = {
        "haggle_episodes_per_s": round(haggle, 1),
        "negmas_episodes_per_s": round(negmas, 1),
        "ratio": round(haggle / negmas, 1),
        "target_ratio": 20,
    }
    print(
        json.dumps(result)
        if args.json
        else f"haggle {haggle:,.0f} ep/s | negmas SAOMechanism {negmas:,.1f} ep/s | ratio {haggle / negmas:.1f}x "
        f"(target >= 20x)"
    )


if __name__ == "__main__":
    main()
