"""Learning check: SFT on scripted experts teaches the tiny model to call tools; GRPO then raises its reward.

Not a unit test: it trains for real on CPU (several minutes on two cores) and prints its numbers with their seeds.
Every step is the command a user would run:

1. `haggle tiny-model` builds the tiny Qwen3-shaped model (random weights);
2. `haggle tournament` plays the scripted negotiators on the GRPO config's scenarios, and `haggle traces` keeps
   the sides that closed a deal with at least half of the surplus and no invalid move (the expert dialogues);
3. `training/sft.py` (configs/sft/tiny-cpu.yaml) and `training/grpo.py` (configs/grpo/tiny-cpu.yaml, from the
   SFT adapter, against the config's scripted opponent).

The untrained, SFT and GRPO models each play the same held-out scenarios, both roles, against that opponent, at
the GRPO config's temperature, two ways:
- as evaluated (`kind: hf` agents through `env.runner`, an invalid move is retried until forfeit): the share of
  the model's turns that were valid tool calls, the deal rate and the mean reward;
- as GRPO rolls out (`NegotiationEnv`, TRL's training chat template and response parser, a reply without a
  tool call ends the episode): the mean GRPO reward, the objective GRPO climbs.

    python benchmarks/learning_check.py --out runs/learning-check --seed 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml
from haggle.data.agent_specs import AgentSpec, build_agent
from haggle.env.episode_loop import Episode, play_episode
from haggle.env.negotiation import ProtocolRules
from haggle.env.scenario import ROLES, SamplerConfig, ScenarioSampler, other_role
from haggle.training.negotiation_env import NegotiationEnv, environment_factory, opponent_from_spec
from haggle.training.rewards import RewardShaping, surplus_share_score
from haggle.training.scenario_table import build_scenario_table

ROOT = Path(__file__).resolve().parents[1]
SFT_CONFIG = ROOT / "configs/sft/tiny-cpu.yaml"
GRPO_CONFIG = ROOT / "configs/grpo/tiny-cpu.yaml"
EXPERTS = ["boulware", "linear", "conceder", "tit_for_tat", "hardliner", "posted_price"]


@dataclass
class Score:
    valid_turn_rate: float  # as evaluated
    deal_rate: float  # as evaluated
    eval_reward: float  # as evaluated: an episode always finishes (invalid moves are retried, then forfeit)
    grpo_reward: float  # as GRPO rolls out: a reply without a tool call leaves the episode unfinished
    grpo_finished: float  # share of those rollouts that reached the end of the game


def run(command: list[str], label: str) -> float:
    """Run one step as a user would; return its wall time."""
    print(f"$ {' '.join(command)}", flush=True)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{label} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return time.perf_counter() - start


def script(path: str, config: Path, **overrides: object) -> list[str]:
    """A training script run with a config plus `--field value` overrides."""
    flags = [part for key, value in overrides.items() for part in (f"--{key}", str(value))]
    return [sys.executable, path, "--config", str(config.relative_to(ROOT)), *flags]


# -- as evaluated ---------------------------------------------------------------------------------------------
def play_as_evaluated(setup: Setup, adapter: Path | None) -> list[tuple[str, Episode]]:
    params: dict[str, Any] = {"model": str(setup.model), "sampling": {"temperature": setup.temperature}}
    params |= {"thinking": False, "max_new_tokens": 96, "adapter": str(adapter) if adapter else None}
    spec = AgentSpec.from_mapping(
        {"name": f"model-{adapter.name if adapter else 'base'}", "kind": "hf", "params": params}
    )
    opponent = AgentSpec.from_mapping(setup.opponent)

    async def play_all() -> list[Episode]:
        games = []
        for index, scenario in enumerate(setup.sampler.sample(setup.count, setup.seed)):
            for role in ROLES:
                agents = {
                    role: build_agent(spec, role, index),
                    other_role(role): build_agent(opponent, other_role(role), index),
                }
                games.append(play_episode(scenario, agents["buyer"], agents["seller"]))
        return await asyncio.gather(*games)

    episodes = asyncio.run(play_all())
    return [(role, episode) for episode, role in zip(episodes, [*ROLES] * setup.count, strict=True)]


# -- as GRPO rolls out ----------------------------------------------------------------------------------------
def roll_out_as_grpo(setup: Setup, adapter: Path | None) -> list[NegotiationEnv]:
    """GRPOTrainer's loop without the trainer: render with its chat template, parse with its parser, stop at a reply
    without a tool call, and one environment per rollout from `reset(**row)`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.chat_template_utils import add_response_schema, get_training_chat_template, parse_response

    tokenizer = add_response_schema(AutoTokenizer.from_pretrained(setup.model, padding_side="left"))
    model = AutoModelForCausalLM.from_pretrained(setup.model)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    template = get_training_chat_template(tokenizer)
    make_env = environment_factory(setup.sampler, opponent_from_spec(setup.opponent), ProtocolRules())
    rows = build_scenario_table(setup.sampler, 2 * setup.count, setup.seed)
    envs = [make_env() for _ in rows]
    chats = [
        [row["prompt"][0], {"role": "user", "content": env.reset(**row)}]
        for env, row in zip(envs, rows, strict=True)
    ]
    tools = [getattr(envs[0], name) for name in ProtocolRules().actions]
    active = list(range(len(envs)))
    torch.manual_seed(setup.seed)
    for _ in range(setup.max_model_turns):
        if not active:
            break
        prompts = [
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
                max_new_tokens=96,
                pad_token_id=tokenizer.pad_token_id,
            )
        still_active = []
        for i, prompt, row in zip(
            active, prompts, output[:, batch["input_ids"].shape[1] :].tolist(), strict=True
        ):
            end = next((k + 1 for k, token in enumerate(row) if token == tokenizer.eos_token_id), len(row))
            reply = parse_response(tokenizer, row[:end], prefix=prompt, tools=tools)
            chats[i].append(reply)
            for call in reply.get("tool_calls") or []:
                function = call["function"]
                try:
                    result = getattr(envs[i], function["name"])(**function["arguments"])
                except (AttributeError, TypeError) as error:  # as TRL reports a call it cannot make
                    result = str({"error": str(error)})
                chats[i].append({"role": "tool", "name": function["name"], "content": result})
            if reply.get("tool_calls") and not envs[i].negotiation.done:
                still_active.append(i)
        active = still_active
    return envs


# -- the check ------------------------------------------------------------------------------------------------
@dataclass
class Setup:
    model: Path
    sampler: ScenarioSampler
    opponent: dict[str, Any]
    shaping: RewardShaping
    temperature: float
    max_model_turns: int
    count: int
    seed: int


def measure(setup: Setup, adapter: Path | None) -> Score:
    evaluated = play_as_evaluated(setup, adapter)
    turns = sum(1 for role, episode in evaluated for actor, _ in episode.turns if actor == role)
    invalid = sum(episode.outcome.violations[role] for role, episode in evaluated)
    rolled = roll_out_as_grpo(setup, adapter)
    return Score(
        valid_turn_rate=1 - invalid / turns,
        deal_rate=statistics.fmean(episode.outcome.deal for _, episode in evaluated),
        eval_reward=statistics.fmean(
            surplus_share_score(e.negotiation, role, setup.shaping) for role, e in evaluated
        ),
        grpo_reward=statistics.fmean(
            surplus_share_score(env.negotiation, env.role, setup.shaping) for env in rolled
        ),
        grpo_finished=statistics.fmean(env.negotiation.done for env in rolled),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/learning-check"))
    parser.add_argument("--seed", type=int, default=0, help="model, tournament and training seed")
    parser.add_argument("--eval-seed", type=int, default=1000, help="seed of the held-out scenarios")
    parser.add_argument("--eval-scenarios", type=int, default=24, help="held-out scenarios (x2 roles)")
    parser.add_argument(
        "--expert-scenarios", type=int, default=60, help="tournament scenarios per ordered pair"
    )
    parser.add_argument("--sft-steps", type=int, default=120)
    parser.add_argument("--grpo-steps", type=int, default=60)
    parser.add_argument("--model", type=Path, help="an existing tiny model (default: build one)")
    args = parser.parse_args()
    out, seed = args.out.resolve(), args.seed
    if out.exists():
        sys.exit(f"{out} exists: give a fresh --out")
    out.mkdir(parents=True)
    config = yaml.safe_load(GRPO_CONFIG.read_text())
    scenario_settings = config.get("scenarios") or {}
    haggle = [sys.executable, "-m", "haggle.cli"]
    times: dict[str, float] = {}

    # ---- the model and the expert dialogues
    model = args.model.resolve() if args.model else out / "tiny-model"
    if not args.model:
        times["tiny model"] = run(
            [*haggle, "tiny-model", "--out", str(model), "--seed", str(seed)], "tiny-model"
        )
    setup = Setup(
        model=model,
        sampler=ScenarioSampler(SamplerConfig.from_mapping(scenario_settings)),
        opponent=config["opponent"],
        shaping=RewardShaping(**{f.name: config[f.name] for f in fields(RewardShaping) if f.name in config}),
        temperature=config["temperature"],
        max_model_turns=config["max_tool_calling_iterations"],
        count=args.eval_scenarios,
        seed=args.eval_seed,
    )
    experts = {"seed": seed, "episodes_per_pairing": args.expert_scenarios, "scenarios": scenario_settings}
    tournament_config = out / "experts.yaml"
    tournament_config.write_text(yaml.safe_dump({**experts, "agents": [{"name": name} for name in EXPERTS]}))
    tournament, traces = out / "tournament", out / "traces"
    tournament_command = [*haggle, "tournament", "--config", str(tournament_config), "--out", str(tournament)]
    times["tournament"] = run([*tournament_command, "--no-progress"], "tournament")
    traces_command = [*haggle, "traces", str(tournament), "--out", str(traces), "--deals-only"]
    times["traces"] = run([*traces_command, "--min-surplus-share", "0.5", "--no-violations"], "traces")

    # ---- untrained, SFT, GRPO
    results = {"untrained": measure(setup, None)}
    sft, grpo = out / "sft", out / "grpo"
    sft_flags = {
        "model_name_or_path": model,
        "dataset_name": traces,
        "output_dir": sft,
        "max_steps": args.sft_steps,
    }
    times["sft"] = run(script("training/sft.py", SFT_CONFIG, seed=seed, **sft_flags), "sft")
    results["sft"] = measure(setup, sft)
    grpo_flags = {
        "model_name_or_path": model,
        "init_adapter": sft,
        "output_dir": grpo,
        "max_steps": args.grpo_steps,
    }
    grpo_command = script("training/grpo.py", GRPO_CONFIG, seed=seed, table_seed=seed, **grpo_flags)
    times["grpo"] = run(grpo_command, "grpo")
    results["grpo"] = measure(setup, grpo)

    # ---- report
    logs = json.loads((grpo / "trainer_state.json").read_text())["log_history"]
    train_rewards = [entry["reward"] for entry in logs if "reward" in entry]
    quarter = max(len(train_rewards) // 4, 1)
    report = {
        "seeds": {"model_and_training": seed, "held_out_scenarios": args.eval_seed},
        "opponent": setup.opponent,
        "scenarios": scenario_settings,
        "temperature": setup.temperature,
        "held_out_episodes": 2 * args.eval_scenarios,
        "results": {name: vars(result) for name, result in results.items()},
        "grpo_training_reward": {
            "first_quarter": statistics.fmean(train_rewards[:quarter]),
            "last_quarter": statistics.fmean(train_rewards[-quarter:]),
        },
        "seconds": {step: round(value, 1) for step, value in times.items()},
        "sft_raises_valid_turns": results["sft"].valid_turn_rate
        >= results["untrained"].valid_turn_rate + 0.3,
        "grpo_raises_reward": results["grpo"].grpo_reward > results["sft"].grpo_reward,
    }
    (out / "learning_check.json").write_text(json.dumps(report, indent=2))
    print(
        f"\nlearning check: seed {seed}, held-out seed {args.eval_seed} ({2 * args.eval_scenarios} episodes), "
        f"opponent {setup.opponent}, temperature {setup.temperature}"
    )
    header = ("model", "valid turns", "deal rate", "eval reward", "GRPO reward", "GRPO finished")
    print("".join(f"{column:>14}" for column in header))
    for name, result in results.items():
        print(f"{name:>14}" + "".join(f"{value:>14.3f}" for value in vars(result).values()))
    print(f"GRPO training reward, first vs last quarter of steps: {report['grpo_training_reward']}")
    print(f"seconds: {report['seconds']}")
    print(
        f"SFT raises valid turns by >= 0.3: {report['sft_raises_valid_turns']}; "
        f"GRPO raises its reward: {report['grpo_raises_reward']}; report: {out / 'learning_check.json'}"
    )


if __name__ == "__main__":
    main()
