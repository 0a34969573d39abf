"""GRPO: reinforcement learning of a negotiator against a weighted opponent mix, with LoRA, on TRL's GRPOTrainer.

Each dataset row is one negotiation against one opponent of the `opponents` mix, drawn by weight
(`training/scenario_table.py`); `held_out_opponents` are never trained against: they are the ones to evaluate on.
TRL repeats a row `num_generations` times and every copy plays it in its own `NegotiationEnv`
(`environment_factory`): the model acts through tool calls, the opponent answers inside each call, and the reward
(`training/rewards.py`) scores the finished game.
`max_completion_length` bounds the whole multi-turn completion, tool replies included, and
`max_tool_calling_iterations` the number of model turns; episodes cut short are logged as truncated.
Generation runs on vLLM (`use_vllm: true`, `vllm_mode: colocate` or `server`) on GPUs and on plain transformers
on CPU. Training starts from `init_adapter` (the SFT output) or a fresh LoRA on the base model, with dropout off.
With several processes the trainer runs every tool turn in lockstep (`training/grpo_trainer.py`). Replies are read
with the eval parser (`install_move_parser`), and LLM opponents of all rollouts answer concurrently (`deferred`
environments, at most `max_concurrent_opponents` requests); a rollout whose opponent failed is not scored, and the
run stops after `max_opponent_failures` of them in a row. At start-up
the script refuses recipes that cannot work: vLLM sleep mode with tools (unless `--allow_sleep_mode_with_tools`),
and a `max_completion_length` / `vllm_max_model_length` too short for a full-length episode (it says what to set).

Launch (every config field can be overridden on the command line, e.g. `--num_generations 8`):
    python training/grpo.py --config configs/grpo/tiny-cpu.yaml --model_name_or_path runs/tiny-model
    accelerate launch --config_file configs/accelerate/single_gpu.yaml training/grpo.py \\
        --config configs/grpo/qwen3-8b.yaml --vllm_mode colocate
    trl vllm-serve --model Qwen/Qwen3-8B --port 8000 &        # on a GPU the trainer does not use
    accelerate launch --config_file configs/accelerate/multi_gpu.yaml training/grpo.py \\
        --config configs/grpo/qwen3-8b.yaml --vllm_mode server --vllm_server_host H --vllm_server_port 8000
    sbatch slurm/grpo.slurm configs/grpo/qwen3-14b.yaml
Add `--resume` to continue from the last checkpoint in `output_dir` when there is one (SLURM requeues do), or
TRL's `--resume_from_checkpoint DIR` (`true`: the last checkpoint in `output_dir`, which must exist).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import TYPE_CHECKING, Any, cast

from haggle.training.configs import ExpandingTrlParser, GRPOScriptArguments
from trl import GRPOConfig, ModelConfig

if TYPE_CHECKING:
    from haggle.env.scenario import Role
    from peft import PeftModel


def main(script_args: GRPOScriptArguments, training_args: GRPOConfig, model_args: ModelConfig) -> None:
    import datasets
    from haggle.env.actions import tool_schemas
    from haggle.env.negotiation import ProtocolRules
    from haggle.env.scenario import SamplerConfig, ScenarioSampler
    from haggle.training.grpo_trainer import (
        LockstepGRPOTrainer,
        disable_dropout,
        episode_budget,
        full_length_episode,
        refuse_broken_combinations,
        refuse_short_budget,
    )
    from haggle.training.metrics_logging import (
        EpisodeSummaryCallback,
        configure_reporting,
        with_episode_metrics,
    )
    from haggle.training.negotiation_env import environment_factory, install_move_parser, opponent_from_spec
    from haggle.training.rewards import get_reward_funcs
    from haggle.training.run_steps import resume_checkpoint, train_and_save
    from haggle.training.scenario_table import build_scenario_table
    from transformers import AutoTokenizer, set_seed
    from trl import get_peft_config, get_quantization_config
    from trl.chat_template_utils import add_response_schema

    # ---- refuse what cannot work before anything loads
    if not model_args.model_name_or_path or training_args.max_completion_length is None:
        raise ValueError("set --model_name_or_path and --max_completion_length (the config files do)")
    refuse_broken_combinations(training_args, script_args.allow_sleep_mode_with_tools)
    # mappings given as JSON text on the command line are dicts once parsed (configs.py, TRL's __post_init__)
    scenarios = cast(dict[str, Any], script_args.scenarios)
    opponents = {name: opponent_from_spec(spec) for name, spec in script_args.opponent_specs.items()}
    chat_template_kwargs = cast(dict[str, Any], training_args.chat_template_kwargs or {})
    extra_model_kwargs = cast(dict[str, Any], training_args.model_init_kwargs or {})
    disable_dropout(training_args)

    # ---- seed and logging
    set_seed(training_args.seed)
    configure_reporting(training_args.report_to)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # TRL 1.x flags environment_factory experimental

    # ---- checkpoint
    checkpoint = resume_checkpoint(
        script_args.resume, training_args.resume_from_checkpoint, str(training_args.output_dir), "grpo"
    )

    # ---- data: the table of scenarios
    sampler = ScenarioSampler(SamplerConfig.from_mapping(scenarios))
    rows = build_scenario_table(
        sampler,
        script_args.num_scenarios,
        script_args.table_seed,
        opponents=script_args.opponent_weights,
        roles=cast("list[Role]", script_args.roles),
        tier_names=script_args.tier_names,
    )
    faced = Counter(row["opponent"] for row in rows)
    print("opponents in the scenario table: " + ", ".join(f"{name} {faced[name]}" for name in opponents))
    dataset = datasets.Dataset.from_list(rows)

    # ---- tokenizer and model (the same path for the tiny model and Qwen/Qwen3-8B)
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        trust_remote_code=training_args.trust_remote_code,
        padding_side="left",
        truncation_side="left",
    )
    budget = episode_budget(
        tokenizer,
        full_length_episode(sampler, script_args.max_violations),
        chat_template_kwargs,
    )
    refuse_short_budget(budget, training_args, sampler.config.max_rounds)
    print(
        f"a full-length episode: {budget.prompt_tokens} prompt + {budget.completion_tokens} completion tokens"
    )
    model_init_kwargs = {
        "revision": model_args.model_revision,
        "trust_remote_code": training_args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        **extra_model_kwargs,
    }
    # with init_adapter the SFT adapter trains on; TRL keeps a frozen copy of it as the KL reference
    model: PeftModel | str
    if script_args.init_adapter:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        # loaded on the CPU (no device_map), as DDP and DeepSpeed need; the trainer places it
        base = AutoModelForCausalLM.from_pretrained(model_args.model_name_or_path, **model_init_kwargs)
        # as TRL does for its own LoRA under ZeRO-3: adapter weights in the base dtype (ZeRO-3 gathers one dtype)
        plugin = training_args.deepspeed_plugin
        zero3 = plugin is not None and plugin.zero_stage == 3
        model = PeftModel.from_pretrained(
            base, script_args.init_adapter, is_trainable=True, autocast_adapter_dtype=not zero3
        )
        peft_config = None
    else:
        model = model_args.model_name_or_path
        training_args.model_init_kwargs = model_init_kwargs
        peft_config = get_peft_config(model_args)

    # ---- environment and rewards: replies read as eval reads them, all rollouts' opponents answering at once
    rules = ProtocolRules(max_violations=script_args.max_violations)
    if (
        getattr(tokenizer, "response_template", None) is None
        and getattr(tokenizer, "response_schema", None) is None
    ):
        add_response_schema(tokenizer)  # TRL consults `parse_response` only on tokenizers with one
    install_move_parser(tokenizer, rules.actions, script_args.max_reply_chars)
    make_env = environment_factory(
        sampler,
        opponents,
        rules,
        max_concurrent=script_args.max_concurrent_opponents,
        deferred=True,
    )
    reward_funcs = get_reward_funcs(script_args.reward_funcs, script_args.shaping)
    reward_funcs[0] = with_episode_metrics(
        reward_funcs[0], training_args.max_completion_length, script_args.max_opponent_failures
    )

    # ---- trainer
    trainer = LockstepGRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        quantization_config=get_quantization_config(model_args) if peft_config is not None else None,
        environment_factory=make_env,
        callbacks=[EpisodeSummaryCallback()],
        tool_order=[tool["function"]["name"] for tool in tool_schemas()],
    )

    # ---- train, save and model card
    train_and_save(trainer, checkpoint, "grpo", tags=["haggle", "negotiation", "grpo"])


def make_parser() -> ExpandingTrlParser:
    return ExpandingTrlParser(cast(Any, (GRPOScriptArguments, GRPOConfig, ModelConfig)))


if __name__ == "__main__":
    from haggle.training.run_steps import run_script

    run_script("grpo", make_parser, main)
