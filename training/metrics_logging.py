"""Training metrics: what each GRPO episode did, logged through TRL to stdout and whatever `report_to` names.

Episode metrics are computed from the rollouts' environments inside the first reward function (the only place
TRL hands them out) and logged with TRL's `log_metric`, one value per episode, so that TRL averages them over the
generation batch across processes: deal rate, surplus share (deals with gains from trade, as in
`env.metrics.summarise`) and reward, each per role and per price tier; deal rate on scenarios with and without
gains from trade; violations, tool-call validity, rounds, turns, tool calls, ignored extra calls, completion
tokens (tool replies included) and how episodes ended (`episode/end/<reason>`: deal, walk-away, forfeit, round
limit, stopped by the model, truncated by the token or tool-turn budget, opponent failure).

A rollout whose opponent failed is not scored (its reward is None) and only counted (`episode/end/
opponent_failure`); after `max_opponent_failures` such rollouts in a row the run stops with one clear error, on
every training process at the same step (`stop_after_opponent_failures`).

wandb is never imported here and never initialised by Haggle: `report_to: [wandb]` hands it to transformers,
and `configure_reporting` only checks that it is installed and switches it offline when no API key is set.
"""

from __future__ import annotations

import netrc
import os
from collections.abc import Callable, Sequence
from functools import wraps
from importlib.util import find_spec
from typing import Any

import torch.distributed as dist
from haggle.training.negotiation_env import NegotiationEnv, OpponentError
from haggle.training.rewards import RewardFunc, invalid_moves, is_truncated
from transformers import TrainerCallback

# the headline numbers of the one-line stdout summary, in order
SUMMARY_KEYS = (
    "loss",
    "reward",
    "episode/deal_rate",
    "episode/surplus_share",
    "episode/violations",
    "episode/end/truncated",
    "episode/end/opponent_failure",
    "mean_token_accuracy",
)
END_REASONS = ("deal", "walk_away", "forfeit", "round_limit", "stopped", "truncated", "opponent_failure")
_ENGINE_ENDS = {
    "accepted": "deal",
    "walked_away": "walk_away",
    "forfeit": "forfeit",
    "round_limit": "round_limit",
}


def end_reason(env: NegotiationEnv, completion: list[dict[str, Any]], out_of_tokens: bool = False) -> str:
    """How the episode ended, one of `END_REASONS` (`out_of_tokens`: the completion filled its token budget)."""
    negotiation = env.negotiation
    assert negotiation is not None
    if env.opponent_failure is not None:
        return "opponent_failure"
    if negotiation.outcome is not None:
        return _ENGINE_ENDS.get(
            negotiation.outcome.end_reason, "deal" if negotiation.outcome.deal else "round_limit"
        )
    return "truncated" if out_of_tokens or is_truncated(negotiation, completion) else "stopped"


def episode_metrics(
    env: NegotiationEnv, completion: list[dict[str, Any]], completion_ids: Sequence[int], max_tokens: int
) -> dict[str, float]:
    """One episode's numbers."""
    negotiation = env.negotiation
    assert negotiation is not None
    outcome, role, tier = negotiation.outcome, env.role, negotiation.scenario.price_tier
    reason = end_reason(env, completion, len(completion_ids) >= max_tokens)
    metrics = {f"episode/end/{name}": float(name == reason) for name in END_REASONS}
    metrics |= {
        "episode/finished": float(outcome is not None),
        "episode/violations": float(invalid_moves(negotiation, role)),
        "episode/valid_tool_calls": 1.0 - negotiation.violations[role] / max(env.tool_calls, 1),
        "episode/irrational_deal": float(outcome is not None and outcome.irrational_side == role),
        "episode/rounds": float(outcome.rounds if outcome else negotiation.round),
        "episode/turns": float(outcome.turns if outcome else negotiation.turn_count),
        "episode/tool_calls": float(env.tool_calls),
        "episode/calls_after_end": float(env.calls_after_end),
        # only a reply's first call is a move; with plain TRL parsing the others run too, so count them either way
        "episode/extra_calls": float(
            env.ignored_calls + sum(max(len(m.get("tool_calls") or []) - 1, 0) for m in completion)
        ),
        "episode/completion_tokens": float(len(completion_ids)),
    }
    deal = float(outcome is not None and outcome.deal)
    share = outcome.surplus_share(role) if outcome is not None and outcome.deal else None
    gains = "with_gains" if negotiation.scenario.gains_from_trade > 0 else "without_gains"
    for suffix in ("", f"/{role}", f"/tier_{tier}", f"/{gains}", f"/opponent_{env.opponent_name}"):
        metrics[f"episode/deal_rate{suffix}"] = deal
        if share is not None:
            metrics[f"episode/surplus_share{suffix}"] = share
    return metrics


def with_episode_metrics(
    reward_func: RewardFunc, max_completion_length: int, max_opponent_failures: int = 64
) -> RewardFunc:
    """Wrap a reward function so that each call also logs its episodes' metrics and its reward by role and tier,
    voids (None) the rollouts whose opponent failed, and stops the run after `max_opponent_failures` in a row."""
    failures_in_a_row = 0  # this process's, carried from call to call

    @wraps(reward_func)
    def logged(
        environments: Sequence[NegotiationEnv],
        completions: list[list[dict[str, Any]]],
        completion_ids: list[list[int]],
        log_metric: Callable[[str, float], None] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        nonlocal failures_in_a_row
        longest, last_error = 0, ""
        for env in environments:
            failed = env.opponent_failure is not None
            failures_in_a_row = failures_in_a_row + 1 if failed else 0
            longest = max(longest, failures_in_a_row)
            last_error = repr(env.opponent_failure) if failed else last_error
        stop_after_opponent_failures(longest, last_error, max_opponent_failures)
        rewards = reward_func(
            environments=environments, completions=completions, completion_ids=completion_ids, **kwargs
        )
        rewards = [
            None if env.opponent_failure is not None else r
            for env, r in zip(environments, rewards, strict=True)
        ]
        if log_metric is not None:
            for env, completion, ids, reward in zip(
                environments, completions, completion_ids, rewards, strict=True
            ):
                tier = env.scenario.price_tier
                values = episode_metrics(env, completion, ids, max_completion_length)
                if reward is not None:
                    values |= {f"reward/{env.role}": reward, f"reward/tier_{tier}": reward}
                    values[f"reward/opponent_{env.opponent_name}"] = reward  # the mix: which one it exploits
                for name, value in values.items():
                    log_metric(name, value)
        return rewards

    return logged


def stop_after_opponent_failures(longest: int, last_error: str, limit: int) -> None:
    """Raise on every training process at once when the opponent failures in a row reach `limit`.

    TRL calls the reward functions once per generation batch on every process, so this is where all processes
    can decide together: a process that raised alone would leave the others waiting in TRL's next collective
    (a hang on NCCL, a gloo error elsewhere). Each process counts its own rollouts in a row whose opponent
    failed (`longest`: the most the count reached during this call); only its own answered rollouts reset it,
    so a process cut off from the endpoint (say an opponent on `localhost` of another node) still stops the run
    while the others reach it. The counts are summed over processes, not maxed: the limit is a number of
    rollouts of the whole run, so an outage that fails every rollout stops after the same number of rollouts
    (and steps) whatever the number of processes, and with one process this is the plain count.
    """
    streaks: list[tuple[int, str]] = [(longest, last_error)]
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        streaks = [(0, "")] * dist.get_world_size()
        dist.all_gather_object(streaks, (longest, last_error))  # every process gets the same list
    total = sum(count for count, _ in streaks)
    if total < limit:
        return
    if len(streaks) == 1:
        raise OpponentError(
            f"the opponent failed in {total} episodes in a row (last: {last_error}): check the opponent "
            "endpoint, then resume with --resume"
        )
    worst = max(range(len(streaks)), key=lambda index: streaks[index][0])  # the first of the longest
    counts = ", ".join(f"process {index}: {count}" for index, (count, _) in enumerate(streaks) if count)
    raise OpponentError(
        f"the opponent failed in {total} episodes in a row over {len(streaks)} processes ({counts}; last on "
        f"process {worst}: {streaks[worst][1]}): check the opponent endpoint from every node, then resume "
        "with --resume"
    )


def configure_reporting(report_to: str | Sequence[str] | None) -> None:
    """Fail early, naming the extra, when wandb is asked for but missing; without an API key, log offline."""
    targets = [report_to] if isinstance(report_to, str) else list(report_to or [])
    if "wandb" not in targets and "all" not in targets:
        return
    if find_spec("wandb") is None:
        if "wandb" in targets:
            raise ImportError("report_to includes wandb but it is not installed: pip install 'haggle[wandb]'")
        return
    if not os.environ.get("WANDB_API_KEY") and not _wandb_netrc_login():
        os.environ.setdefault("WANDB_MODE", "offline")
        print("wandb: no API key found, logging offline (sync later with `wandb sync`)")


def _wandb_netrc_login() -> bool:
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


class EpisodeSummaryCallback(TrainerCallback):
    """One readable line per log step on the main process, beside transformers' full dict of logs."""

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **_: Any
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        parts = [f"{key.split('/')[-1]} {logs[key]:.3f}" for key in SUMMARY_KEYS if logs.get(key) is not None]
        if parts:
            print(f"[step {state.global_step}/{state.max_steps}] " + "  ".join(parts), flush=True)
