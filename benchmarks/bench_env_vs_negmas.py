"""Scripted-vs-scripted episodes per second: Haggle's engine beside NegMAS's SAOMechanism, in one run, on equal terms.

Both sides play time-based Boulware (buyer) against Conceder (seller) over a single price issue, on the same values,
in one process on one core, with the same number of actions allowed per episode: Haggle's 10 rounds are 20 turns,
and NegMAS runs `one_offer_per_step=True` for 20 steps (its default step is a whole round, both sides moving, which
would give it twice the protocol). The mean actions per episode (offers plus the acceptance) of each are printed
so that equal length is shown, not assumed, and both engines' deals are compared on the same value pairs.
Reported: episodes per CPU second of each (best of --repeats timed blocks) and their ratio. NegMAS is an optional
bench dependency: `pip install -e .[bench]`.

    python benchmarks/bench_env_vs_negmas.py --episodes 4000 --negmas-episodes 300
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import dataclass

from haggle.env.agents import create_agent
from haggle.env.episode_loop import play_episodes
from haggle.env.scenario import SamplerConfig, Scenario, ScenarioSampler

MAX_ROUNDS = 10
TARGET_RATIO = 30


@dataclass(frozen=True)
class Result:
    """One episode as both engines can report it: `round` counts one move of each side."""

    deal: bool
    price: float | None
    round: int
    actions: int  # offers plus the closing acceptance


def haggle_results(scenarios: list[Scenario]) -> list[Result]:
    episodes = play_episodes(
        scenarios,
        lambda role, s: create_agent("boulware" if role == "buyer" else "conceder", role=role, seed=s.seed),
    )
    return [Result(e.outcome.deal, e.outcome.price, e.outcome.rounds, e.outcome.turns) for e in episodes]


def negmas_results(scenarios: list[Scenario], price_levels: int) -> list[Result]:
    from negmas import BoulwareTBNegotiator, ConcederTBNegotiator, SAOMechanism, make_issue
    from negmas.preferences import LinearAdditiveUtilityFunction
    from negmas.preferences.value_fun import AffineFun

    results = []
    for scenario in scenarios:
        low, high = scenario.value_low, scenario.value_high
        issues = [
            make_issue(
                name="price",
                values=[low + (high - low) * i / (price_levels - 1) for i in range(price_levels)],
            )
        ]
        mechanism = SAOMechanism(issues=issues, n_steps=2 * MAX_ROUNDS, one_offer_per_step=True)
        utilities = {
            "buyer": LinearAdditiveUtilityFunction(
                values=[AffineFun(-1.0, scenario.buyer_value)],
                outcome_space=mechanism.outcome_space,
                reserved_value=0.0,
            ),
            "seller": LinearAdditiveUtilityFunction(
                values=[AffineFun(1.0, -scenario.seller_cost)],
                outcome_space=mechanism.outcome_space,
                reserved_value=0.0,
            ),
        }
        negotiators = {
            "buyer": BoulwareTBNegotiator(name="buyer"),
            "seller": ConcederTBNegotiator(name="seller"),
        }
        for role in sorted(negotiators, key=lambda role: role != scenario.first_mover):  # first added opens
            mechanism.add(negotiators[role], preferences=utilities[role])
        state = mechanism.run()
        offers = sum(1 for entry in mechanism.full_trace if entry[4] is not None)
        deal = state.agreement is not None
        results.append(
            Result(
                deal,
                state.agreement[0] if deal else None,
                min(state.step // 2 + 1, MAX_ROUNDS) if deal else MAX_ROUNDS,
                offers + int(deal),
            )
        )
    return results


def timed(run, scenarios: list[Scenario], repeats: int) -> tuple[float, list[Result]]:
    """Best episodes per CPU second over `repeats` blocks (CPU time: other load on a shared machine does not
    count against either engine), and the results of the last block."""
    best = 0.0
    for _ in range(repeats):
        started = time.process_time()
        results = run(scenarios)
        best = max(best, len(scenarios) / (time.process_time() - started))
    return best, results


def agreement(ours: list[Result], theirs: list[Result], scenarios: list[Scenario], levels: int) -> dict:
    """How often both engines end the same way on the same values; prices are compared in NegMAS's price steps
    (its issue is discretised, Haggle's prices are cents)."""
    same_deal = [a.deal == b.deal for a, b in zip(ours, theirs, strict=True)]
    both = [(a, b, s) for a, b, s in zip(ours, theirs, scenarios, strict=True) if a.deal and b.deal]
    gaps = [abs(a.price - b.price) / ((s.value_high - s.value_low) / (levels - 1)) for a, b, s in both]
    return {
        "pairs": len(ours),
        "same_deal_or_not": round(sum(same_deal) / len(ours), 3),
        "same_round_when_both_deal": round(
            sum(a.round == b.round for a, b, _ in both) / max(len(both), 1), 3
        ),
        "median_price_gap_in_price_steps": round(statistics.median(gaps), 2) if gaps else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=4000)
    parser.add_argument("--negmas-episodes", type=int, default=300, help="also the value pairs compared")
    parser.add_argument("--price-levels", type=int, default=101, help="NegMAS's discretised price issue")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core for both engines
    scenarios = ScenarioSampler(SamplerConfig(max_rounds=MAX_ROUNDS)).sample(args.episodes, seed=0)
    haggle, ours = timed(haggle_results, scenarios, args.repeats)
    paired = scenarios[: args.negmas_episodes]
    negmas, theirs = timed(lambda s: negmas_results(s, args.price_levels), paired, args.repeats)
    result = {
        "haggle_episodes_per_s": round(haggle, 1),
        "negmas_episodes_per_s": round(negmas, 1),
        "ratio": round(haggle / negmas, 1),
        "target_ratio": TARGET_RATIO,
        "haggle_actions_per_episode": round(statistics.mean(r.actions for r in ours), 2),
        "negmas_actions_per_episode": round(statistics.mean(r.actions for r in theirs), 2),
        "haggle_actions_per_episode_on_compared_pairs": round(
            statistics.mean(r.actions for r in ours[: len(paired)]), 2
        ),
        "agreement": agreement(ours[: len(paired)], theirs, paired, args.price_levels),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"haggle {haggle:,.0f} ep/s ({result['haggle_actions_per_episode']} actions/episode; "
        f"{result['haggle_actions_per_episode_on_compared_pairs']} on the compared pairs) | "
        f"negmas SAOMechanism {negmas:,.1f} ep/s ({result['negmas_actions_per_episode']} actions/episode) | "
        f"ratio {haggle / negmas:.1f}x (target >= {TARGET_RATIO}x)\nagreement: {json.dumps(result['agreement'])}"
    )


if __name__ == "__main__":
    main()
