"""Learning study: does training teach the tiny model to negotiate? A controlled, paired comparison of five models.

Not a unit test: it trains for real on CPU and writes its table (study.md, study.json) and plot (study.png) to the
run directory. For every seed, each step is the command a user would run:

1. `haggle tiny-model --seed S` builds the tiny Qwen3-shaped model (random weights);
2. `haggle tournament` plays the scripted negotiators on the GRPO config's scenarios and `haggle traces` keeps the
   sides that closed a deal with at least half of the surplus, and those that closed none where there were no gains
   from trade (the honest exit), without an invalid move (the expert dialogues);
3. `training/sft.py` (configs/sft/tiny-cpu.yaml) for `--sft-steps`, then from its adapter
   - GRPO (configs/grpo/tiny-cpu.yaml) for `--grpo-steps`,
   - SFT continued from its last checkpoint for the same `--grpo-steps` more steps (the "more updates" control),
   - GRPO with the rewards shuffled across the generation batch, hence across groups (`shuffled_surplus_share`
     below, passed through GRPO's `reward_funcs` as a dotted import path): the "not the reward" control.

Every model (untrained, sft, grpo, sft_continued, grpo_shuffled; the untrained one for the first seed only unless
`--untrained-every-seed`) then plays the same held-out scenarios, both roles,
`--samples` times each with identical sampling seeds, against two opponent blocks: the GRPO config's training mix
(`opponents`, each scenario drawn by weight) and its `held_out_opponents` (never trained against), the same
opponent for every model on the same scenario; two ways:
- as `haggle eval` plays (`kind: hf` agents through `env.episode_loop`: an invalid move is retried until forfeit;
  96 new tokens per reply, thinking off);
- as GRPO rolls out (`NegotiationEnv`, TRL's training chat template, every reply read by GRPO's move parser
  (`install_move_parser`: a malformed reply is an invalid move, forfeiting after `max_violations`), and the config's
  `max_completion_length` bounds the whole episode, tool replies included; a cut episode scores `truncated_value`).
Both use the GRPO config's `max_violations`.

Per model: reward (the GRPO reward), deal rate, deal rate on scenarios with gains from trade (v > c) and without
(v < c), surplus share as a share of the gains (Σ surplus / Σ (v − c) in prior widths over the scenarios with
gains, no deal = 0: a loss on a scenario with almost no gains cannot set it), losing-deal rate, walk-away rate (the
model left) and valid-turn rate. Every difference (to the reference model `sft_continued`, GRPO − shuffled,
GRPO − SFT) is a paired bootstrap over scenarios (each scenario's value is its mean over seeds, roles and samples,
so scenarios are the independent units: the evaluation's noise), with the per-seed differences and a t interval
over them beside it (the training's noise); deals are compared with exact McNemar on the paired episodes. "GRPO
improves on SFT" is printed only where GRPO − SFT continued and GRPO − shuffled both exclude 0 on both intervals
and every seed's difference is positive.

    python benchmarks/learning_study.py --out runs/learning-study --seeds 0 1 2
    python benchmarks/learning_study.py --out runs/learning-study-smoke --smoke   # the pipeline in minutes

Every step (model, tournament, traces, each training run, each model's held-out play per block and mode) is kept in
the run directory; the same command on the same directory goes on where an interrupted study stopped (other
settings or changed configs are refused). Eval loads each adapter merged into the weights, as `haggle eval` does.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from haggle.data.agent_specs import AgentSpec, build_agent
from haggle.data.tool_parsing import MAX_REPLY_CHARS
from haggle.env.episode_loop import play_episode
from haggle.env.metrics import pooled_efficiency
from haggle.env.negotiation import Negotiation, ProtocolRules
from haggle.env.outcome import prior_width
from haggle.env.scenario import ROLES, Role, SamplerConfig, ScenarioSampler, derive_seed, other_role
from haggle.eval import stats
from haggle.eval.eval_report import pooled_ratio_ci
from haggle.eval.formatting import ci, p_value, table
from haggle.training.negotiation_env import (
    NegotiationEnv,
    environment_factory,
    install_move_parser,
    opponent_from_spec,
)
from haggle.training.rewards import RewardShaping, get_surplus_share_reward, is_truncated, surplus_share_score
from haggle.training.scenario_table import build_scenario_table

ROOT = Path(__file__).resolve().parents[1]
SFT_CONFIG = ROOT / "configs/sft/tiny-cpu.yaml"
GRPO_CONFIG = ROOT / "configs/grpo/tiny-cpu.yaml"
EXPERTS = ["boulware", "linear", "conceder", "tit_for_tat", "hardliner", "posted_price"]
MODELS = ("untrained", "sft", "grpo", "sft_continued", "grpo_shuffled")
REFERENCE = "sft_continued"
MODES = ("as_evaluated", "as_rolled_out")
POOLED_METRIC = "surplus_share"  # pooled over scenarios by their gains (`scenario_mean`), not averaged
METRICS = (
    "reward",
    "deal_rate",
    "deal_rate_with_gains",
    "deal_rate_without_gains",
    "surplus_share",
    "losing_deal_rate",
    "walk_away_rate",
    "valid_turn_rate",
)
SHUFFLE_SEED_VARIABLE = "HAGGLE_STUDY_SHUFFLE_SEED"
# The code that turns an episode into the study's numbers, beside the configs: a study never resumes across a change
# of the reward or of the SFT data's filter that left the YAML alone.
RESULT_CODE = (ROOT / "training/rewards.py", ROOT / "data/traces.py")


def _config_shaping(config: dict[str, Any]) -> RewardShaping:
    return RewardShaping(**{f.name: config[f.name] for f in fields(RewardShaping) if f.name in config})


# -- the shuffled-reward control ----------------------------------------------------------------------------------
_surplus_share = get_surplus_share_reward(_config_shaping(yaml.safe_load(GRPO_CONFIG.read_text())))
_shuffle = np.random.default_rng(int(os.environ.get(SHUFFLE_SEED_VARIABLE, "0")))


def shuffled_surplus_share(
    environments: Sequence[NegotiationEnv], completions: Sequence[Sequence[dict[str, Any]]], **kwargs: Any
) -> list[float | None]:
    """GRPO's reward, permuted over the scored rollouts of the generation batch: the same reward distribution and
    number of updates, but no link between a rollout and its reward (unscored rollouts stay unscored)."""
    rewards = _surplus_share(environments=environments, completions=completions, **kwargs)
    scored = [i for i, reward in enumerate(rewards) if reward is not None]
    shuffled = list(rewards)
    for i, j in zip(scored, _shuffle.permutation(scored), strict=True):
        shuffled[i] = rewards[j]
    return shuffled


# -- one episode's numbers ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scored:
    """One held-out episode of one model: the scenario it pairs on and its numbers (None: not defined here)."""

    scenario: tuple[float, float, str]
    unit: tuple[int, str, int]  # (scenario index, role, sample): the same across models
    values: dict[str, float | None]


def score(
    negotiation: Negotiation, role: Role, shaping: RewardShaping, truncated: bool, valid_turn_rate: float
) -> dict[str, float | None]:
    outcome = negotiation.outcome
    scenario = negotiation.scenario
    deal = float(outcome is not None and outcome.deal)
    share = outcome.surplus_share(role) if outcome is not None else None
    with_gains = scenario.buyer_value > scenario.seller_cost
    return {
        "reward": surplus_share_score(negotiation, role, shaping, truncated),
        "deal_rate": deal,
        "deal_rate_with_gains": deal if with_gains else None,
        "deal_rate_without_gains": deal if scenario.buyer_value < scenario.seller_cost else None,
        "surplus_share": (share or 0.0) if with_gains else None,
        "losing_deal_rate": float(outcome is not None and outcome.irrational_side == role),
        "walk_away_rate": float(outcome is not None and outcome.ended("walked_away", by=role)),
        "valid_turn_rate": valid_turn_rate,
    }


def scenario_key(negotiation: Negotiation) -> tuple[float, float, str]:
    s = negotiation.scenario
    return (s.buyer_value, s.seller_cost, s.price_tier)


# -- as haggle eval plays -----------------------------------------------------------------------------------------
@dataclass
class Setup:
    sampler: ScenarioSampler
    shaping: RewardShaping
    temperature: float
    max_model_turns: int
    max_completion_length: int
    scenarios: int
    samples: int
    seed: int
    rules: ProtocolRules
    max_reply_chars: int


@dataclass(frozen=True)
class OpponentMix:
    """The opponents of one block of the study: agent specs by name and their weights (a scenario's chance of
    facing each). Every model meets the same opponent on the same scenario."""

    label: str
    specs: dict[str, dict[str, Any]]
    weights: dict[str, float]

    @classmethod
    def from_config(cls, label: str, entries: Sequence[dict[str, Any]]) -> OpponentMix:
        specs = {entry["name"]: {k: v for k, v in entry.items() if k != "weight"} for entry in entries}
        return cls(label, specs, {entry["name"]: float(entry.get("weight", 1.0)) for entry in entries})

    @property
    def title(self) -> str:
        return f"{self.label} ({', '.join(self.specs)})"

    def pick(self, seed: int, index: int) -> str:
        """The opponent of held-out scenario `index` in `haggle eval` play (the rollout replay uses the GRPO
        scenario table's own draw, by the same weights)."""
        chooser = random.Random(derive_seed("study-opponent", seed, index))
        return chooser.choices(list(self.weights), list(self.weights.values()))[0]


def play_as_evaluated(setup: Setup, model: Path, adapter: Path | None, mix: OpponentMix) -> list[Scored]:
    params: dict[str, Any] = {"model": str(model), "sampling": {"temperature": setup.temperature}}
    params |= {
        "thinking": False,
        "max_new_tokens": 96,
        "max_batch_size": 512,
        "adapter": str(adapter) if adapter else None,
    }
    spec = AgentSpec.from_mapping({"name": "model", "kind": "hf", "params": params})
    opponent_specs = {name: AgentSpec.from_mapping(spec) for name, spec in mix.specs.items()}
    units = [
        (index, scenario, role, sample)
        for index, scenario in enumerate(setup.sampler.sample(setup.scenarios, setup.seed))
        for role in ROLES
        for sample in range(setup.samples)
    ]

    async def play_all() -> list[Any]:
        games = []
        for index, scenario, role, sample in units:
            agent_seed = index * setup.samples + sample  # the same sampling seed for every model
            agents = {
                role: build_agent(spec, role, agent_seed),
                other_role(role): build_agent(
                    opponent_specs[mix.pick(setup.seed, index)], other_role(role), agent_seed
                ),
            }
            games.append(play_episode(scenario, agents["buyer"], agents["seller"], setup.rules))
        return await asyncio.gather(*games)

    scored = []
    for (index, _, role, sample), episode in zip(units, asyncio.run(play_all()), strict=True):
        turns = sum(1 for actor, _ in episode.turns if actor == role)
        valid = 1 - episode.outcome.violations.get(role, 0) / max(turns, 1)
        negotiation = episode.negotiation
        values = score(negotiation, role, setup.shaping, False, valid)
        scored.append(Scored(scenario_key(negotiation), (index, role, sample), values))
    return scored


# -- as GRPO rolls out --------------------------------------------------------------------------------------------
def roll_out_as_grpo(setup: Setup, model_dir: Path, adapter: Path | None, mix: OpponentMix) -> list[Scored]:
    """GRPOTrainer's loop without the trainer: render with its chat template, read replies with GRPO's move parser,
    stop when the game is over, at the tool-turn limit or when the episode (tool replies included) has used
    `max_completion_length` tokens."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.chat_template_utils import add_response_schema, get_training_chat_template, parse_response

    tokenizer = add_response_schema(AutoTokenizer.from_pretrained(model_dir, padding_side="left"))
    install_move_parser(
        tokenizer, setup.rules.actions, setup.max_reply_chars
    )  # as training/grpo.py reads replies
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()  # as haggle eval loads it
    model.eval()
    template = get_training_chat_template(tokenizer)
    factories = {name: opponent_from_spec(spec) for name, spec in mix.specs.items()}
    make_env = environment_factory(setup.sampler, factories, setup.rules)
    table_rows = build_scenario_table(setup.sampler, 2 * setup.scenarios, setup.seed, opponents=mix.weights)
    rows = [(index, sample, row) for index, row in enumerate(table_rows) for sample in range(setup.samples)]
    envs = [make_env() for _ in rows]
    chats = [
        [row["prompt"][0], {"role": "user", "content": env.reset(**row)}]
        for env, (_, _, row) in zip(envs, rows, strict=True)
    ]
    tools = [getattr(envs[0], name) for name in setup.rules.actions]
    budget = [setup.max_completion_length] * len(envs)
    active = list(range(len(envs)))
    torch.manual_seed(setup.seed)
    for _ in range(setup.max_model_turns):
        if not active:
            break
        prompts: list[Any] = [  # token ids (tokenize=True)
            tokenizer.apply_chat_template(
                chats[i],
                tools=tools,
                chat_template=template,
                add_generation_prompt=True,
                tokenize=True,
                return_dict=False,
                enable_thinking=False,
            )
            for i in active
        ]
        batch = tokenizer.pad({"input_ids": prompts}, return_tensors="pt")
        with torch.no_grad():
            output = model.generate(
                **batch,
                do_sample=True,
                temperature=setup.temperature,
                max_new_tokens=max(budget[i] for i in active),
                pad_token_id=tokenizer.pad_token_id,
            )
        still_active = []
        for i, prompt, generated in zip(
            active, prompts, output[:, batch["input_ids"].shape[1] :].tolist(), strict=True
        ):
            row = generated[: budget[i]]
            end = next((k + 1 for k, token in enumerate(row) if token == tokenizer.eos_token_id), len(row))
            budget[i] -= end
            reply = parse_response(tokenizer, row[:end], prefix=prompt, tools=tools)
            chats[i].append(reply)
            for call in reply.get("tool_calls") or []:
                function = call["function"]
                try:
                    result = getattr(envs[i], function["name"])(**function["arguments"])
                except (AttributeError, TypeError) as error:  # as TRL reports a call it cannot make
                    result = str({"error": str(error)})
                chats[i].append({"role": "tool", "name": function["name"], "content": result})
                budget[i] -= len(tokenizer(result)["input_ids"])
            negotiation = envs[i].negotiation
            if reply.get("tool_calls") and negotiation is not None and not negotiation.done and budget[i] > 0:
                still_active.append(i)
        active = still_active
    scored = []
    for env, chat, (index, sample, _) in zip(envs, chats, rows, strict=True):
        negotiation = env.negotiation
        assert negotiation is not None
        # valid turns over the model's replies: a reply without a tool call is an invalid turn too
        replies = [message for message in chat if message["role"] == "assistant"]
        calling = sum(bool(message.get("tool_calls")) for message in replies)
        valid = max(calling - negotiation.violations[env.role], 0) / max(len(replies), 1)
        values = score(negotiation, env.role, setup.shaping, is_truncated(negotiation, replies), valid)
        scored.append(Scored(scenario_key(negotiation), (index, env.role, sample), values))
    return scored


# -- statistics ---------------------------------------------------------------------------------------------------
def per_scenario(episodes: Sequence[Scored], metric: str) -> dict[tuple[float, float, str], float]:
    """Each scenario's mean over the episodes where the metric is defined: scenarios are the independent units."""
    groups: dict[tuple[float, float, str], list[float]] = defaultdict(list)
    for episode in episodes:
        value = episode.values[metric]
        if value is not None:
            groups[episode.scenario].append(value)
    return {key: float(np.mean(values)) for key, values in groups.items()}


def tier_widths(sampler: ScenarioSampler) -> dict[str, float]:
    """Each price tier's prior width (`prior_width`), which the stored episodes leave out: it puts the gains of all
    tiers in one unit. Only tiers whose scenarios share one width (not hotel room blocks)."""
    widths: dict[str, set[float]] = defaultdict(set)
    for scenario in sampler.sample(4 * len(sampler.tier_names) * len(sampler.config.domains), 0):
        widths[scenario.price_tier].add(prior_width(scenario.value_low, scenario.value_high))
    return {tier: next(iter(values)) for tier, values in widths.items() if len(values) == 1}


def gains_rows(
    means: dict[tuple[float, float, str], float], widths: Mapping[str, float] | None
) -> np.ndarray | None:
    """Per scenario, the surplus share's part of the gains and the gains v − c, both in prior widths: the rows
    `haggle eval` pools (`pooled_efficiency`, `pooled_ratio_ci`). None where a tier has no width."""
    if widths is None or any(tier not in widths for _, _, tier in means):
        return None
    gains = [(buyer_value - seller_cost) / widths[tier] for buyer_value, seller_cost, tier in means]
    return np.array([[share * g, g] for share, g in zip(means.values(), gains, strict=True)]).reshape(-1, 2)


def scenario_estimate(
    means: dict[tuple[float, float, str], float], metric: str, widths: Mapping[str, float] | None
) -> float | None:
    """A metric over scenarios: the mean of the scenarios' means, or for the surplus share the share of the gains,
    Σ share·(v − c) / Σ (v − c) in prior widths, as `haggle eval` pools it, so that a scenario with almost no gains
    cannot set the number. None where it cannot be pooled (no widths for a tier)."""
    if metric != POOLED_METRIC:
        return float(np.mean(list(means.values())))
    rows = gains_rows(means, widths)
    return None if rows is None else pooled_efficiency(rows[:, 0], rows[:, 1])


def scenario_mean(
    means: dict[tuple[float, float, str], float],
    metric: str,
    widths: Mapping[str, float] | None,
    resamples: int,
) -> tuple[float, list[float] | None] | None:
    """`scenario_estimate` with its bootstrap 95% interval over scenarios (a ratio's rows kept together)."""
    if metric != POOLED_METRIC:
        values = list(means.values())
        interval = stats.bootstrap_ci(values, resamples=resamples, seed=0)
        return float(np.mean(values)), [interval.low, interval.high]
    rows = gains_rows(means, widths)
    if rows is None:
        return None
    interval = pooled_ratio_ci(rows, resamples, seed=0, bounds=None)  # a loss can take it below 0
    return pooled_efficiency(rows[:, 0], rows[:, 1]), interval


def model_row(
    episodes: Sequence[Scored], resamples: int, widths: Mapping[str, float] | None
) -> dict[str, Any]:
    row: dict[str, Any] = {"episodes": len(episodes)}
    for metric in METRICS:
        means = per_scenario(episodes, metric)
        pooled = scenario_mean(means, metric, widths, resamples) if means else None
        row[metric], row[f"{metric}_ci"] = (None, None) if pooled is None else pooled
    return row


def paired_difference(
    a: dict[int, list[Scored]],
    b: dict[int, list[Scored]],
    metric: str,
    resamples: int,
    widths: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """a − b over the scenarios both define, each scenario pooled over seeds (pooled as `scenario_mean` pools the
    metric), with a paired bootstrap over scenarios (the evaluation's noise, these trained models fixed); each
    seed's difference; and a t interval over the seeds' differences (the training's noise: another seed trains
    another model)."""
    empty = {"difference": None, "ci": None, "scenarios": 0, "per_seed": {}, "seeds_ci": None}
    pooled_a = per_scenario([e for episodes in a.values() for e in episodes], metric)
    pooled_b = per_scenario([e for episodes in b.values() for e in episodes], metric)
    shared = sorted(set(pooled_a) & set(pooled_b))
    overall = (
        scenario_mean({k: pooled_a[k] - pooled_b[k] for k in shared}, metric, widths, resamples)
        if shared
        else None
    )
    if overall is None:
        return empty
    per_seed = {}
    for seed in sorted(set(a) & set(b)):
        seed_a, seed_b = per_scenario(a[seed], metric), per_scenario(b[seed], metric)
        keys = sorted(set(seed_a) & set(seed_b))
        differences = {k: seed_a[k] - seed_b[k] for k in keys}
        per_seed[seed] = scenario_estimate(differences, metric, widths) if keys else None
    replicates = [value for value in per_seed.values() if value is not None]
    across = stats.t_interval(replicates) if len(replicates) > 1 else None
    return {
        "difference": overall[0],
        "ci": overall[1],
        "scenarios": len(shared),
        "per_seed": per_seed,
        "seeds_ci": None if across is None else [across.low, across.high],
    }


def mcnemar(a: dict[int, list[Scored]], b: dict[int, list[Scored]]) -> dict[str, Any]:
    """Exact McNemar on the paired episodes' deals (same seed, scenario, role and sample)."""
    deals_b = {(seed, e.unit): e.values["deal_rate"] for seed, episodes in b.items() for e in episodes}
    only_a = only_b = 0
    for seed, episodes in a.items():
        for episode in episodes:
            other = deals_b.get((seed, episode.unit))
            if other is not None and episode.values["deal_rate"] != other:
                only_a, only_b = only_a + bool(episode.values["deal_rate"]), only_b + bool(other)
    test = stats.mcnemar_exact(only_a, only_b)
    return {"only_a": only_a, "only_b": only_b, "p_value": test.p_value}


COMPARISONS = [
    ("grpo", REFERENCE),
    ("grpo_shuffled", REFERENCE),
    ("grpo", "grpo_shuffled"),
    ("grpo", "sft"),
    ("sft", "untrained"),
]


def analyse(
    episodes: dict[str, dict[str, dict[str, dict[int, list[Scored]]]]],
    resamples: int,
    widths: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """episodes[mode][opponent][model][seed] → one block per mode × opponent: per-model rows and comparisons.
    `widths` (each tier's prior width) pools the surplus share; without it that metric is absent."""
    blocks = []
    for mode, by_opponent in episodes.items():
        for opponent, by_model in by_opponent.items():
            rows = {
                model: model_row([e for eps in by_seed.values() for e in eps], resamples, widths)
                for model, by_seed in by_model.items()
            }
            comparisons = [
                {
                    "a": a,
                    "b": b,
                    "deals_mcnemar": mcnemar(by_model[a], by_model[b]),
                    "metrics": {
                        m: paired_difference(by_model[a], by_model[b], m, resamples, widths) for m in METRICS
                    },
                }
                for a, b in COMPARISONS
            ]
            blocks.append({"mode": mode, "opponent": opponent, "models": rows, "comparisons": comparisons})
    return blocks


def grpo_improves(comparison: dict[str, Any]) -> bool:
    """The claim's rule: the reward difference is above 0 over scenarios (paired bootstrap) and over training seeds
    (t interval, so at least two seeds), and no seed disagrees in sign."""
    reward = comparison["metrics"]["reward"]
    seeds = [value for value in reward["per_seed"].values() if value is not None]
    return (
        reward["ci"] is not None
        and reward["ci"][0] > 0
        and reward["seeds_ci"] is not None
        and reward["seeds_ci"][0] > 0
        and all(value > 0 for value in seeds)
    )


# -- report -------------------------------------------------------------------------------------------------------
def format_markdown(report: dict[str, Any]) -> str:
    parts = [
        "# Learning study",
        f"Command: `{report['command']}`. Seeds {report['seeds']}; held-out scenarios: seed {report['eval_seed']}, "
        f"{report['scenarios']} scenarios × 2 roles × {report['samples']} samples per model, seed and opponent. "
        f"Compute {sum(v for k, v in report['seconds'].items() if not k.startswith('total')):.0f} s "
        "(the sum of its steps' wall times, over resumed invocations).",
        "Per-model values are means over scenarios (each scenario pooled over seeds, roles and samples) with "
        "bootstrap 95% intervals over scenarios; differences are paired bootstraps over the same scenarios (the "
        "evaluation's noise), with each seed's difference and a t interval over the seeds' differences beside them "
        "(the training's noise); deals: exact McNemar on the paired episodes. The surplus share is pooled, not "
        "averaged: Σ share·(v − c) / Σ (v − c) over the scenarios with gains, in prior widths.",
    ]
    for block in report["blocks"]:
        parts.append(f"## {block['mode'].replace('_', ' ')}, against {block['opponent']}")
        parts.append(
            table(
                ["model", *METRICS],
                [
                    [model, *[ci(row[m], row[f"{m}_ci"]) for m in METRICS]]
                    for model, row in block["models"].items()
                ],
            )
        )
        parts.append(
            table(
                ["difference", *METRICS, "deals: only A / only B, McNemar p"],
                [
                    [
                        f"{c['a']} − {c['b']}",
                        *[
                            f"{ci(d['difference'], d['ci'])} (seeds: {seed_values(d)})"
                            for d in (c["metrics"][m] for m in METRICS)
                        ],
                        f"{c['deals_mcnemar']['only_a']} / {c['deals_mcnemar']['only_b']}, "
                        f"{p_value(c['deals_mcnemar']['p_value'])}",
                    ]
                    for c in block["comparisons"]
                ],
            )
        )
    parts.append("## Claims")
    parts += [f"- {claim}" for claim in report["claims"]]
    parts.append("![reward and deal rate per model](study.png)")
    return "\n\n".join(parts) + "\n"


def claims(blocks: list[dict[str, Any]]) -> list[str]:
    """Two lines per block. "GRPO improves on SFT" needs GRPO − SFT continued above 0 (`grpo_improves`:
    over scenarios and over seeds) and, so that the gain is the reward's and not more updates', GRPO − shuffled too."""
    lines = []
    for block in blocks:
        where = f"{block['mode'].replace('_', ' ')}, against {block['opponent']}"
        by_pair = {(c["a"], c["b"]): c for c in block["comparisons"]}
        main, control = by_pair[("grpo", REFERENCE)], by_pair[("grpo_shuffled", REFERENCE)]
        versus_control = by_pair[("grpo", "grpo_shuffled")]
        reward, beyond = main["metrics"]["reward"], versus_control["metrics"]["reward"]
        gains = f"reward GRPO − SFT continued {ci(reward['difference'], reward['ci'])} (seeds: {seed_values(reward)})"
        over_control = (
            f"GRPO − shuffled {ci(beyond['difference'], beyond['ci'])} (seeds: {seed_values(beyond)})"
        )
        if not grpo_improves(main):
            lines.append(
                f"GRPO does not (yet) improve on SFT ({where}): {gains}: an interval covers 0, a seed disagrees, "
                "or there is one seed."
            )
        elif grpo_improves(versus_control):
            lines.append(f"GRPO improves on SFT ({where}): {gains}; {over_control}.")
        else:
            lines.append(
                f"GRPO gains on SFT continued ({where}: {gains}) but not on the shuffled-reward control "
                f"({over_control}): the gain is not shown to be the reward's."
            )
        shuffled = control["metrics"]["reward"]
        lines.append(
            f"Shuffled-reward GRPO − SFT continued ({where}): {ci(shuffled['difference'], shuffled['ci'])}"
            + control_reading(shuffled["ci"])
        )
    return lines


def control_reading(interval: tuple[float, float] | list[float] | None) -> str:
    """What the shuffled-reward control's difference says: only an interval wholly above 0 means the updates
    alone gained reward; one below 0 means they lost it (no improvement either, and GRPO's gain is still the
    reward's)."""
    if interval is None:
        return ": no interval."
    if interval[0] > 0:
        return " is above 0: the updates alone gained reward, so the gain is not only the reward's."
    if interval[1] < 0:
        return (
            " is below 0: the updates on a shuffled reward lost reward, so the control shows no improvement."
        )
    return " covers 0, as a control should."


def seed_values(difference: dict[str, Any]) -> str:
    """Each seed's difference, then the t interval over them."""
    values = ", ".join("–" if v is None else f"{v:+.3f}" for v in difference["per_seed"].values())
    across = difference["seeds_ci"]
    return values if across is None else f"{values}; over seeds [{across[0]:.3f}, {across[1]:.3f}]"


def write_plot(blocks: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, len(blocks), figsize=(4 * len(blocks), 6), squeeze=False)
    for column, block in enumerate(blocks):
        for row, metric in enumerate(("reward", "deal_rate")):
            ax = axes[row][column]
            names = list(block["models"])
            for x, name in enumerate(names):
                values = block["models"][name]
                if values[metric] is None:
                    continue
                low, high = values[f"{metric}_ci"]
                ax.errorbar(
                    x, values[metric], yerr=[[values[metric] - low], [high - values[metric]]], fmt="o"
                )
            ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=7)
            ax.set_ylabel(metric.replace("_", " "))
            if row == 0:
                ax.set_title(f"{block['mode'].replace('_', ' ')}\nvs {block['opponent']}", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# -- the pipeline -------------------------------------------------------------------------------------------------
def run(command: list[str], label: str, done: Path, env: dict[str, str] | None = None) -> float | None:
    """Run one step as a user would and return its wall time; None (not run) when `done` shows it already ran:
    an interrupted study started again goes on where it stopped."""
    if done.exists():
        print(f"= {label}: done before ({done})", flush=True)
        return None
    print(f"$ {' '.join(command)}", flush=True)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"{label} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return time.perf_counter() - start


def script(path: str, config: Path, **overrides: object) -> list[str]:
    """A training script run with a config plus `--field value` overrides."""
    flags = [part for key, value in overrides.items() for part in (f"--{key}", str(value))]
    return [sys.executable, path, "--config", str(config.relative_to(ROOT)), *flags]


def adapter_saved(output_dir: Path) -> Path:
    return output_dir / "adapter_model.safetensors"


@dataclass
class Plan:
    seeds: list[int]
    sft_steps: int
    grpo_steps: int
    expert_scenarios: int


def train_seed(
    plan: Plan, seed: int, out: Path, experts: Path, times: dict[str, float | None]
) -> dict[str, Path | None]:
    """The five models of one seed: the base model and the adapters (None: no adapter)."""
    haggle = [sys.executable, "-m", "haggle.cli"]
    base = out / f"seed-{seed}"
    model = base / "tiny-model"
    tiny_command = [*haggle, "tiny-model", "--out", str(model), "--seed", str(seed)]
    times[f"seed {seed}: tiny model"] = run(tiny_command, "tiny", model / "config.json")
    sft, sft_continued, grpo, shuffled = (
        base / name for name in ("sft", "sft-continued", "grpo", "grpo-shuffled")
    )
    sft_flags = {
        "model_name_or_path": model,
        "dataset_name": experts,
        "seed": seed,
        "save_steps": plan.sft_steps,
    }
    times[f"seed {seed}: sft"] = run(
        script("training/sft.py", SFT_CONFIG, output_dir=sft, max_steps=plan.sft_steps, **sft_flags),
        "sft",
        adapter_saved(sft),
    )
    checkpoint = sft / f"checkpoint-{plan.sft_steps}"
    continued = {"output_dir": sft_continued, "max_steps": plan.sft_steps + plan.grpo_steps}
    times[f"seed {seed}: sft continued"] = run(
        script("training/sft.py", SFT_CONFIG, resume_from_checkpoint=checkpoint, **continued, **sft_flags),
        "sft continued",
        adapter_saved(sft_continued),
    )
    grpo_flags = {
        "model_name_or_path": model,
        "init_adapter": sft,
        "max_steps": plan.grpo_steps,
        "seed": seed,
        "table_seed": seed,
        "resume": "true",  # an interrupted run goes on from its last checkpoint
    }
    times[f"seed {seed}: grpo"] = run(
        script("training/grpo.py", GRPO_CONFIG, output_dir=grpo, **grpo_flags), "grpo", adapter_saved(grpo)
    )
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env[SHUFFLE_SEED_VARIABLE] = str(seed)
    shuffled_command = script(
        "training/grpo.py",
        GRPO_CONFIG,
        output_dir=shuffled,
        reward_funcs="benchmarks.learning_study.shuffled_surplus_share",
        **grpo_flags,
    )
    times[f"seed {seed}: grpo shuffled"] = run(
        shuffled_command, "grpo shuffled", adapter_saved(shuffled), env
    )
    return {
        "untrained": None,
        "sft": sft,
        "grpo": grpo,
        "sft_continued": sft_continued,
        "grpo_shuffled": shuffled,
    }


def models_to_play(seed: int, seeds: Sequence[int], untrained_every_seed: bool) -> tuple[str, ...]:
    """Every model of the first seed; the trained ones of the others unless asked (the untrained model writes to the
    token budget on every turn: its four cells cost about as much as nine trained ones, for a row that never moves)."""
    if seed == seeds[0] or untrained_every_seed:
        return MODELS
    return tuple(model for model in MODELS if model != "untrained")


def played(path: Path, play: Callable[[], list[Scored]]) -> list[Scored]:
    """One model's held-out episodes against one block, stored once: a resumed study reads them back."""
    if path.exists():
        return [
            Scored(tuple(e["scenario"]), tuple(e["unit"]), e["values"])  # type: ignore[arg-type]
            for e in json.loads(path.read_text())
        ]
    episodes = play()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(
        json.dumps([{"scenario": e.scenario, "unit": e.unit, "values": e.values} for e in episodes])
    )
    partial.replace(path)
    return episodes


def timed_cell(out: Path, path: Path, label: str, play: Callable[[], list[Scored]]) -> list[Scored]:
    """`played`, with a fresh play's wall time written to seconds.json as soon as its episodes are stored: a study
    stopped later keeps it (a stored play read back keeps the time it took to play)."""
    fresh, start = not path.exists(), time.perf_counter()
    episodes = played(path, play)
    if fresh:
        record_times(out, {label: time.perf_counter() - start})
    return episodes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/learning-study"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="model and training seeds")
    parser.add_argument("--eval-seed", type=int, default=1000, help="seed of the held-out scenarios")
    parser.add_argument("--eval-scenarios", type=int, default=64, help="held-out scenarios (x2 roles)")
    parser.add_argument("--samples", type=int, default=4, help="samples per held-out scenario and role")
    parser.add_argument("--expert-scenarios", type=int, default=60, help="tournament scenarios per pair")
    parser.add_argument("--sft-steps", type=int, default=120)
    parser.add_argument("--grpo-steps", type=int, default=30)
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument(
        "--untrained-every-seed",
        action="store_true",
        help="play the untrained model of every seed (default: the first seed's only; it is not trained, so "
        "the training's noise does not apply, and its play costs a quarter of a seed)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="the whole pipeline at minimal size: 1 seed, 2 steps"
    )
    args = parser.parse_args()
    if args.smoke:
        args.seeds, args.eval_scenarios, args.samples, args.expert_scenarios = [args.seeds[0]], 2, 1, 20
        args.sft_steps, args.grpo_steps, args.resamples = 2, 1, 200
    return args


def claim_run_directory(out: Path, args: argparse.Namespace) -> None:
    """A fresh directory, or one this same study (same settings and configs) started: then it resumes."""
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "smoke")}
    settings |= {
        "configs": {str(path.relative_to(ROOT)): path.read_text() for path in (SFT_CONFIG, GRPO_CONFIG)},
        "code": {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in RESULT_CODE},
    }
    manifest = out / "study-settings.json"
    if out.exists() and any(out.iterdir()) and not manifest.exists():
        sys.exit(f"{out} exists and holds no study: give a fresh --out")
    if manifest.exists() and json.loads(manifest.read_text()) != settings:
        sys.exit(
            f"{out} holds a study with other settings, configs or reward code: give a fresh --out, "
            "or the same settings"
        )
    out.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(settings, indent=2))


def record_times(out: Path, times: dict[str, float | None]) -> dict[str, float]:
    """Each step's wall time, kept over resumed invocations (a step done before keeps its first time)."""
    path = out / "seconds.json"
    seconds = json.loads(path.read_text()) if path.exists() else {}
    seconds |= {step: round(value, 1) for step, value in times.items() if value is not None}
    path.write_text(json.dumps(seconds, indent=2))
    return seconds


def main() -> None:
    args = parse_args()
    out = args.out.resolve()
    claim_run_directory(out, args)
    start = time.perf_counter()
    config = yaml.safe_load(GRPO_CONFIG.read_text())
    scenario_settings = config.get("scenarios") or {}
    haggle = [sys.executable, "-m", "haggle.cli"]
    times: dict[str, float | None] = {}

    # ---- the expert dialogues (shared by every seed: the data are fixed, the models vary)
    tournament_config = out / "experts.yaml"
    experts = {
        "seed": args.seeds[0],
        "episodes_per_pairing": args.expert_scenarios,
        "scenarios": scenario_settings,
    }
    tournament_config.write_text(yaml.safe_dump({**experts, "agents": [{"name": name} for name in EXPERTS]}))
    tournament, traces = out / "tournament", out / "traces"
    tournament_command = [*haggle, "tournament", "--config", str(tournament_config), "--out", str(tournament)]
    times["tournament"] = run(
        [*tournament_command, "--no-progress"], "tournament", tournament / "leaderboard.json"
    )
    traces_command = [*haggle, "traces", str(tournament), "--out", str(traces), "--deals-only"]
    times["traces"] = run(
        [*traces_command, "--min-surplus-share", "0.5", "--no-violations", "--no-deal-without-gains"],
        "traces",
        traces / "dataset_dict.json",
    )

    # ---- train, then play the held-out scenarios
    plan = Plan(args.seeds, args.sft_steps, args.grpo_steps, args.expert_scenarios)
    setup = Setup(
        sampler=ScenarioSampler(SamplerConfig.from_mapping(scenario_settings)),
        shaping=_config_shaping(config),
        temperature=config["temperature"],
        max_model_turns=config["max_tool_calling_iterations"],
        max_completion_length=config["max_completion_length"],
        scenarios=args.eval_scenarios,
        samples=args.samples,
        seed=args.eval_seed,
        rules=ProtocolRules(max_violations=config["max_violations"]),
        max_reply_chars=config.get("max_reply_chars", MAX_REPLY_CHARS),
    )
    mixes = [
        OpponentMix.from_config("training mix", config["opponents"]),
        OpponentMix.from_config("held-out", config["held_out_opponents"]),
    ]
    players = {"as_evaluated": play_as_evaluated, "as_rolled_out": roll_out_as_grpo}
    episodes: dict[str, dict[str, dict[str, dict[int, list[Scored]]]]] = {
        mode: {mix.title: {m: {} for m in MODELS} for mix in mixes} for mode in MODES
    }
    for seed in args.seeds:
        adapters = train_seed(plan, seed, out, traces, times)
        record_times(out, times)
        model = out / f"seed-{seed}" / "tiny-model"
        for name in models_to_play(seed, args.seeds, args.untrained_every_seed):
            adapter = adapters[name]
            for mix in mixes:
                for mode, play in players.items():
                    path = out / f"seed-{seed}" / "held-out-play" / f"{name}.{mode}.{mix.label}.json"
                    label = f"seed {seed}: play {name}, {mode}, {mix.label}"
                    episodes[mode][mix.title][name][seed] = timed_cell(
                        out, path, label, partial(play, setup, model, adapter, mix)
                    )

    # ---- report
    blocks = analyse(episodes, args.resamples, tier_widths(setup.sampler))
    times["total (this invocation)"] = time.perf_counter() - start
    seconds = record_times(out, times)
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "seeds": args.seeds,
        "eval_seed": args.eval_seed,
        "scenarios": args.eval_scenarios,
        "samples": args.samples,
        "opponents": {mix.label: {"specs": mix.specs, "weights": mix.weights} for mix in mixes},
        "steps": {
            "sft": args.sft_steps,
            "grpo": args.grpo_steps,
            "sft_continued": args.sft_steps + args.grpo_steps,
        },
        "scenario_settings": scenario_settings,
        "temperature": setup.temperature,
        "blocks": blocks,
        "claims": claims(blocks),
        "seconds": seconds,
    }
    write_plot(blocks, out / "study.png")
    (out / "study.json").write_text(json.dumps(report, indent=2))
    markdown = format_markdown(report)
    (out / "study.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
