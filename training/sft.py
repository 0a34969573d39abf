"""SFT: behaviour cloning of the best negotiators' dialogues (from `haggle traces`) into a LoRA adapter.

The dataset is conversational with tools (`messages` holding the assistant's tool calls and the tool replies,
and a `tools` column); with `assistant_only_loss: true` only the assistant's turns, tool calls included, carry
loss. Qwen3 thinking is switched by `chat_template_kwargs: {enable_thinking: ...}`, the same setting GRPO renders
its rollouts with: off, the traces' reasoning is dropped, so every assistant turn trains on the empty think block
GRPO pre-fills (Qwen3's training template would otherwise write the expert's reasoning into it); on, turns keep
their reasoning inside the think block the model generates. The output directory gets the adapter, the tokenizer
and a model card; GRPO can start from it (`init_adapter`).

Launch (every config field can be overridden on the command line, e.g. `--learning_rate 1e-4`):
    python training/sft.py --config configs/sft/tiny-cpu.yaml --dataset_name runs/traces
    accelerate launch --config_file configs/accelerate/single_gpu.yaml training/sft.py \\
        --config configs/sft/qwen3-8b.yaml
    accelerate launch --config_file configs/accelerate/zero3.yaml training/sft.py --config configs/sft/qwen3-14b.yaml
    sbatch slurm/sft.slurm configs/sft/qwen3-8b.yaml
Add `--resume` to continue from the last checkpoint in `output_dir` when there is one (SLURM requeues do), or
TRL's `--resume_from_checkpoint DIR` (`true`: the last checkpoint in `output_dir`, which must exist).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from haggle.training.configs import ExpandingTrlParser, HaggleSFTConfig, SFTScriptArguments
from trl import ModelConfig


def load_sft_dataset(
    name: str, config: str | None = None, chat_template_kwargs: dict[str, Any] | None = None
) -> Any:
    """A DatasetDict saved by `haggle traces` (save_to_disk), or anything `datasets.load_dataset` reads; with
    `chat_template_kwargs`, a column of them, which SFTTrainer passes to the chat template for each example."""
    import datasets

    if (Path(name) / "dataset_dict.json").is_file():
        dataset = datasets.load_from_disk(name)
    else:
        dataset = datasets.load_dataset(name, name=config)
    if chat_template_kwargs:
        dataset = dataset.map(lambda _: {"chat_template_kwargs": chat_template_kwargs})
    if (chat_template_kwargs or {}).get("enable_thinking") is False:
        dataset = dataset.map(without_reasoning)
    return dataset


def without_reasoning(example: dict[str, Any]) -> dict[str, Any]:
    """The example's assistant turns without their reasoning, as GRPO renders them with thinking off."""
    return {"messages": [message | {"reasoning_content": None} for message in example["messages"]]}


def main(script_args: SFTScriptArguments, training_args: HaggleSFTConfig, model_args: ModelConfig) -> None:
    from haggle.training.metrics_logging import EpisodeSummaryCallback, configure_reporting
    from haggle.training.run_steps import resume_checkpoint, train_and_save
    from transformers import AutoTokenizer, set_seed
    from trl import SFTTrainer, get_peft_config, get_quantization_config

    # ---- seed and logging
    set_seed(training_args.seed)
    configure_reporting(training_args.report_to)

    # ---- checkpoint
    checkpoint = resume_checkpoint(
        script_args.resume, training_args.resume_from_checkpoint, str(training_args.output_dir), "sft"
    )

    # ---- data
    if not script_args.dataset_name:
        raise ValueError("give the SFT dataset: --dataset_name DIR (the output of `haggle traces`)")
    # a mapping given as JSON text on the command line is a dict once parsed (HaggleSFTConfig's __post_init__)
    chat_template_kwargs = cast(dict[str, Any] | None, training_args.chat_template_kwargs)
    dataset = load_sft_dataset(script_args.dataset_name, script_args.dataset_config, chat_template_kwargs)
    eval_dataset = None
    if training_args.eval_strategy != "no" and script_args.dataset_test_split in dataset:
        eval_dataset = dataset[script_args.dataset_test_split]

    # ---- tokenizer and model (the same path for the tiny model and Qwen/Qwen3-8B)
    if not model_args.model_name_or_path:
        raise ValueError("set --model_name_or_path (the config files do)")
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        trust_remote_code=training_args.trust_remote_code,
    )
    training_args.model_init_kwargs = {
        "revision": model_args.model_revision,
        "trust_remote_code": training_args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        **cast(dict[str, Any], training_args.model_init_kwargs or {}),
    }

    # ---- trainer
    trainer = SFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=dataset[script_args.dataset_train_split],
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        quantization_config=get_quantization_config(model_args),
        callbacks=[EpisodeSummaryCallback()],
    )

    # ---- train, save and model card
    train_and_save(
        trainer,
        checkpoint,
        "sft",
        dataset_name=script_args.dataset_name,
        tags=["haggle", "negotiation", "sft"],
    )


def make_parser() -> ExpandingTrlParser:
    return ExpandingTrlParser(cast(Any, (SFTScriptArguments, HaggleSFTConfig, ModelConfig)))


if __name__ == "__main__":
    from haggle.training.run_steps import run_script

    run_script("sft", make_parser, main)
