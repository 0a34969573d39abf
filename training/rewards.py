"""GRPO rewards: what a finished negotiation is worth to the side being trained.

Every reward reads the episode from the rollout's environment (TRL passes the per-rollout environment instances
to reward functions as `environments`), so it scores what happened in the game, not the text the model wrote.

Two families, picked by name in the config (`reward_funcs`), or any function by dotted import path:

- `surplus_share` (default, shaped). A deal is worth the trained side's surplus over the gap |v - c|, times the
  per-round discount and clipped to [-1, 1]; a deal at a loss to the trained side costs an extra
  `irrational_deal_penalty`. No deal is worth `no_deal_value`. Each invalid move costs `violation_penalty`.
  An episode the model left unfinished by stopping to call tools, or forfeited by making `max_violations` invalid
  moves, is worth `unfinished_value`, below any finished outcome: otherwise a weak policy learns that quitting
  beats a bad deal (seen on the tiny model: with quitting no worse than a loss deal, GRPO collapsed to stopping at
  once; with a forfeit worth only its violations, -0.3, GRPO learned to forfeit: benchmarks/learning_study.py, seed
  1, forfeits 0.12 -> 0.24 of episodes over 30 steps). The honest exit is `walk_away`, worth `no_deal_value`.
  An episode cut by the token or tool-turn budget while the model was still playing is worth `truncated_value`,
  also below any finished outcome by default: the start-up budget check fits the longest legitimate episode, so a
  cut episode wrote too much, and priced above a loss deal, rambling would be the next way out of one (None: not
  scored, masked — no push either way, but an evaluation then drops those episodes).
  `length_penalty` charges for the share of the round limit used.
- `clipped_surplus` (the published preset, Bergemann et al. 2026, arXiv:2604.16472): (v - p)/|v - c| for a
  buyer and (p - c)/|v - c| for a seller, clipped to [-1, 1]; 0 for no deal; -1 for any format or budget
  violation (an invalid move, or an episode left unfinished).

The trade-off. Surplus share rewards hard bargaining and is indifferent between no deal and a deal that gives
everything away, so a policy trained on it learns to hold out: the paper saw SFT (cloning surplus-maximising
experts) double surplus share but lower the deal rate, and RL on this reward recover the deal rate while eroding
surplus, because in a group of rollouts the ones that close at all beat the ones that walk. Raising
`no_deal_value` below zero (or adding a deal bonus through a second reward) pushes towards closing; a larger
`irrational_deal_penalty` keeps that push from ending in deals at a loss. The preset's flat -1 for violations is
strong on purpose: format errors should never be worth the risk, and it dominates any surplus signal early on.

A rollout whose opponent failed (an endpoint down) says nothing about the policy: every registered reward returns
None for it, which TRL masks (no advantage, out of the group baseline).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from haggle.env.negotiation import Negotiation
from haggle.env.scenario import Role

RewardFunc = Callable[..., list[float | None]]


class Rollout(Protocol):
    """What a reward reads from an environment: the game, the side the model played, whether the opponent failed."""

    negotiation: Negotiation
    role: Role
    opponent_failure: BaseException | None


@dataclass(frozen=True)
class RewardShaping:
    """The knobs of the `surplus_share` reward (see the module docstring for their trade-offs)."""

    no_deal_value: float = 0.0
    unfinished_value: float = -2.0
    truncated_value: float | None = -2.0
    violation_penalty: float = 0.1
    irrational_deal_penalty: float = 0.5
    length_penalty: float = 0.0

    def __post_init__(self) -> None:
        worst_deal = -1.0 - self.irrational_deal_penalty
        if self.unfinished_value >= worst_deal:
            raise ValueError(
                f"unfinished_value ({self.unfinished_value}) must be below the worst finished outcome, a deal at a "
                f"loss ({worst_deal}): otherwise the policy learns to stop calling tools instead of negotiating"
            )
        if self.truncated_value is not None and self.truncated_value >= worst_deal:
            raise ValueError(
                f"truncated_value ({self.truncated_value}) must be below the worst finished outcome, a deal at a "
                f"loss ({worst_deal}), or unset (masked): otherwise writing past the budget is a way out of a bad deal"
            )


def normalised_surplus(negotiation: Negotiation, role: Role) -> float:
    """The trained side's surplus over |v - c|, clipped to [-1, 1]; 0 without a deal."""
    outcome = negotiation.outcome
    if outcome is None or not outcome.deal:
        return 0.0
    scenario = negotiation.scenario
    gap = max(abs(scenario.buyer_value - scenario.seller_cost), 1e-6 * scenario.value_high)  # v == c
    return max(-1.0, min(1.0, outcome.surplus(role) / gap))


def invalid_moves(negotiation: Negotiation, role: Role) -> int:
    """The trained side's invalid moves, plus one when it stopped before the game ended."""
    return negotiation.violations[role] + (0 if negotiation.done else 1)


def is_truncated(negotiation: Negotiation, completion: Sequence[dict[str, Any]]) -> bool:
    """The game is not over and the rollout's last reply still called a tool: TRL cut it (token or tool-turn
    budget). With `install_move_parser` every reply, even one cut mid-way, is a call, so this is exact."""
    return negotiation.outcome is None and bool(completion) and bool(completion[-1].get("tool_calls"))


def surplus_share_score(
    negotiation: Negotiation, role: Role, shaping: RewardShaping, truncated: bool = False
) -> float | None:
    outcome = negotiation.outcome
    if outcome is None and truncated:
        if shaping.truncated_value is None:
            return None
        value = shaping.truncated_value
    elif outcome is None or outcome.ended("forfeit", by=role):
        value = shaping.unfinished_value
    elif outcome.deal:
        value = normalised_surplus(negotiation, role) * outcome.discount_factor
        if outcome.irrational_side == role:
            value -= shaping.irrational_deal_penalty
    else:
        value = shaping.no_deal_value
    rounds_used = outcome.rounds if outcome is not None else negotiation.round
    value -= shaping.length_penalty * rounds_used / negotiation.scenario.max_rounds
    return value - shaping.violation_penalty * negotiation.violations[role]


def clipped_surplus_score(negotiation: Negotiation, role: Role) -> float:
    if invalid_moves(negotiation, role):
        return -1.0
    return normalised_surplus(negotiation, role)


# -- TRL reward functions -------------------------------------------------------------------------------------
def get_surplus_share_reward(shaping: RewardShaping) -> RewardFunc:
    def surplus_share(
        environments: Sequence[Rollout], completions: Sequence[Sequence[dict[str, Any]]], **kwargs: Any
    ) -> list[float | None]:
        return [
            None
            if env.opponent_failure is not None
            else surplus_share_score(
                env.negotiation, env.role, shaping, is_truncated(env.negotiation, completion)
            )
            for env, completion in zip(environments, completions, strict=True)
        ]

    return surplus_share


def get_clipped_surplus_reward(shaping: RewardShaping) -> RewardFunc:
    def clipped_surplus(environments: Sequence[Rollout], **kwargs: Any) -> list[float | None]:
        return [
            None if env.opponent_failure is not None else clipped_surplus_score(env.negotiation, env.role)
            for env in environments
        ]

    return clipped_surplus


REWARD_REGISTRY: dict[str, Callable[[RewardShaping], RewardFunc]] = {
    "surplus_share": get_surplus_share_reward,
    "clipped_surplus": get_clipped_surplus_reward,
}


def get_reward_funcs(names: Sequence[str], shaping: RewardShaping) -> list[RewardFunc]:
    """Registered rewards by name; any other name with a dot is imported as a ready TRL reward function."""
    funcs = []
    for name in names:
        if name in REWARD_REGISTRY:
            funcs.append(REWARD_REGISTRY[name](shaping))
        elif "." in name:
            module_path, attribute = name.rsplit(".", 1)
            funcs.append(getattr(importlib.import_module(module_path), attribute))
        else:
            raise ValueError(
                f"unknown reward {name!r}; registered: {', '.join(REWARD_REGISTRY)}, "
                "or give a dotted import path (my_package.rewards.my_reward)"
            )
    return funcs
