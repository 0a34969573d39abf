"""Training metrics: what each GRPO episode did, logged through TRL to stdout and whatever `report_to` names.

Episode metrics are computed from the rollouts' environments inside the first reward function (the only place
TRL hands them out) and logged with TRL's `log_metric`, one value per episode, so that TRL averages them over the
generation batch across processes: deal rate, surplus share (deals with gains from trade, as in
`env.metrics.summarise`) and reward, each per role and per price tier; violations, rounds, tool calls, extra tool
calls in one message, completion tokens (tool replies included) and how episodes ended (finished, stopped by the
model, truncated by the token or tool-turn budget).

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

from haggle.training.negotiation_env import NegotiationEnv, OpponentError
from haggle.training.rewards import RewardFunc, invalid_moves
from transformers import TrainerCallback

# the headline numbers of the one-line stdout summary, in order
SUMMARY_KEYS = (
    "loss",
    "reward",
    "episode/deal_rate",
    "episode/surplus_share",
    "episode/violations",
    "episode/truncated",
    "mean_token_accuracy",
)


def episode_metrics(
    env: NegotiationEnv, completion: list[dict[str, Any]], completion_ids: Sequence[int], max_tokens: int
) -> dict[str, float]:
    """One episode's numbers. Truncated: the game is not over and the rollout ran out of tokens or tool turns."""
    negotiation = env.negotiation
    assert negotiation is not None
    outcome, role, tier = negotiation.outcome, env.role, negotiation.scenario.price_tier
    wanted_more = bool(completion) and bool(completion[-1].get("tool_calls"))
    truncated = outcome is None and (len(completion_ids) >= max_tokens or wanted_more)
    metrics = {
        "episode/finished": float(outcome is not None),
        "episode/stopped": float(outcome is None and not truncated),
        "episode/truncated": float(truncated),
        "episode/violations": float(invalid_moves(negotiation, role)),
        "episode/irrational_deal": float(outcome is not None and outcome.irrational_side == role),
        "episode/rounds": float(outcome.rounds if outcome else negotiation.round),
        "episode/tool_calls": float(env.tool_calls),
        "episode/calls_after_end": float(env.calls_after_end),
        # eval agents act on a message's first tool call only; TRL runs them all, so count the rest
        "episode/extra_calls": float(sum(max(len(m.get("tool_calls") or []) - 1, 0) for m in completion)),
        "episode/completion_tokens": float(len(completion_ids)),
    }
    deal = float(outcome is not None and outcome.deal)
    share = outcome.surplus_share(role) if outcome is not None and outcome.deal else None
    for suffix in ("", f"/{role}", f"/tier_{tier}"):
        metrics[f"episode/deal_rate{suffix}"] = deal
        if share is not None:
            metrics[f"episode/surplus_share{suffix}"] = share
    return metrics


def with_episode_metrics(reward_func: RewardFunc, max_completion_length: int) -> RewardFunc:
    """Wrap a reward function so that each call also logs its episodes' metrics and its reward by role and tier."""

    @wraps(reward_func)
    def logged(
        environments: Sequence[NegotiationEnv],
        completions: list[list[dict[str, Any]]],
        completion_ids: list[list[int]],
        log_metric: Callable[[str, float], None] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        failures = [env.opponent_failure for env in environments if env.opponent_failure is not None]
        if failures:
            raise OpponentError(f"the opponent failed in {len(failures)} episode(s)") from failures[0]
        rewards = reward_func(
            environments=environments, completions=completions, completion_ids=completion_ids, **kwargs
        )
        if log_metric is not None:
            for env, completion, ids, reward in zip(
                environments, completions, completion_ids, rewards, strict=True
            ):
                tier = env.scenario.price_tier
                values = episode_metrics(env, completion, ids, max_completion_length)
                values |= {f"reward/{env.role}": reward, f"reward/tier_{tier}": reward}
                for name, value in values.items():
                    log_metric(name, value)
        return rewards

    return logged


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
