"""GRPO: reinforcement learning of a negotiator against a fixed opponent, with LoRA, on TRL's GRPOTrainer.

Each dataset row is one negotiation (`training/scenario_table.py`); TRL repeats it `num_generations` times and
every copy plays it in its own `NegotiationEnv` (`environment_factory`): the model acts through tool calls, the
opponent answers inside each call, and the reward (`training/rewards.py`) scores the finished game.
`max_completion_length` bounds the whole multi-turn completion, tool replies included, and
`max_tool_calling_iterations` the number of model turns; episodes cut short are logged as truncated.
Generation runs on vLLM (`use_vllm: true`, `vllm_mode: colocate` or `server`) on GPUs and on plain transformers
on CPU. Training starts from `init_adapter` (the SFT output) or a fresh LoRA on the base model.

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

from haggle.training.configs import ExpandingTrlParser, GRPOScriptArguments
from trl import GRPOConfig, ModelConfig


def main(script_args: GRPOScriptArguments, training_args: GRPOConfig, model_args: ModelConfig) -> None:
    import datasets
    from haggle.env.negotiation import ProtocolRules
    from haggle.env.scenario import SamplerConfig, ScenarioSampler
    from haggle.training.metrics_logging import (
        EpisodeSummaryCallback,
        configure_reporting,
        with_episode_metrics,
    )
    from haggle.training.negotiation_env import environment_factory, opponent_from_spec
    from haggle.training.rewards import get_reward_funcs
    from haggle.training.run_steps import resume_checkpoint, train_and_save
    from haggle.training.scenario_table import build_scenario_table
    from transformers import AutoTokenizer, set_seed
    from trl import GRPOTrainer, get_peft_config, get_quantization_config

    # ---- seed and logging
    set_seed(training_args.seed)
    configure_reporting(training_args.report_to)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # TRL 1.x flags environment_factory experimental

    # ---- checkpoint
    checkpoint = resume_checkpoint(
        script_args.resume, training_args.resume_from_checkpoint, training_args.output_dir, "grpo"
    )

    # ---- data: the table of scenarios
    sampler = ScenarioSampler(SamplerConfig.from_mapping(script_args.scenarios))
    rows = build_scenario_table(
        sampler,
        script_args.num_scenarios,
        script_args.table_seed,
        roles=script_args.roles,
        tier_names=script_args.tier_names,
    )
    dataset = datasets.Dataset.from_list(rows)

    # ---- tokenizer and model (the same path for the tiny model and Qwen/Qwen3-8B)
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        trust_remote_code=training_args.trust_remote_code,
        padding_side="left",
        truncation_side="left",
    )
    model_init_kwargs = {
        "revision": model_args.model_revision,
        "trust_remote_code": training_args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        **(training_args.model_init_kwargs or {}),
    }
    # with init_adapter the SFT adapter trains on; TRL keeps a frozen copy of it as the KL reference
    if script_args.init_adapter:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        # loaded on the CPU (no device_map), as DDP and DeepSpeed need; the trainer places it
        base = AutoModelForCausalLM.from_pretrained(model_args.model_name_or_path, **model_init_kwargs)
        model = PeftModel.from_pretrained(base, script_args.init_adapter, is_trainable=True)
        peft_config = None
    else:
        model = model_args.model_name_or_path
        training_args.model_init_kwargs = model_init_kwargs
        peft_config = get_peft_config(model_args)

    # ---- environment and rewards
    rules = ProtocolRules(max_violations=script_args.max_violations)
    make_env = environment_factory(sampler, opponent_from_spec(script_args.opponent), rules)
    reward_funcs = get_reward_funcs(script_args.reward_funcs, script_args.shaping)
    reward_funcs[0] = with_episode_metrics(reward_funcs[0], training_args.max_completion_length)

    # ---- trainer
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        quantization_config=get_quantization_config(model_args) if peft_config is not None else None,
        environment_factory=make_env,
        callbacks=[EpisodeSummaryCallback()],
    )

    # ---- train, save and model card
    train_and_save(trainer, checkpoint, "grpo", tags=["haggle", "negotiation", "grpo"])


def make_parser() -> ExpandingTrlParser:
    return ExpandingTrlParser((GRPOScriptArguments, GRPOConfig, ModelConfig))


if __name__ == "__main__":
    main(*make_parser().parse_args_and_config())
