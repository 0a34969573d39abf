"""The steps SFT and GRPO share around their trainer: where to resume from, and training then saving."""

from __future__ import annotations

import os
from typing import Any

_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0", "none"}


def resume_checkpoint(
    resume: bool, resume_from_checkpoint: str | None, output_dir: str, label: str
) -> str | None:
    """The checkpoint to train from, or None to start fresh.

    TRL's `--resume_from_checkpoint` takes a checkpoint directory, or `true` for the last one in `output_dir` (an
    error when there is none, as in `Trainer.train`); Haggle's `--resume` takes the last one when there is one and
    starts fresh otherwise (SLURM requeues use it: the first run has nothing to resume)."""
    from transformers.trainer_utils import get_last_checkpoint

    asked = (resume_from_checkpoint or "").strip()
    if asked.lower() in _TRUE:
        checkpoint = get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None
        if checkpoint is None:
            raise ValueError(
                f"--resume_from_checkpoint {asked}: no checkpoint in {output_dir}; give a checkpoint directory, "
                "or use --resume to start fresh when there is none"
            )
    elif asked and asked.lower() not in _FALSE:
        if not os.path.isdir(asked):
            raise ValueError(f"--resume_from_checkpoint {asked}: no such checkpoint directory")
        checkpoint = asked
    else:
        checkpoint = get_last_checkpoint(output_dir) if resume and os.path.isdir(output_dir) else None
    print(f"{label}: {f'resuming from {checkpoint}' if checkpoint else 'starting fresh'} in {output_dir}")
    return checkpoint


def train_and_save(trainer: Any, checkpoint: str | None, label: str, **model_card: Any) -> None:
    """Train (from `checkpoint`), log and save the metrics and state, then the adapter, tokenizer and card."""
    output_dir = trainer.args.output_dir
    result = trainer.train(resume_from_checkpoint=checkpoint)
    trainer.log_metrics("train", result.metrics)
    trainer.save_metrics("train", result.metrics)
    trainer.save_state()
    trainer.save_model(output_dir)
    if trainer.accelerator.is_main_process:
        trainer.create_model_card(**model_card)
    trainer.accelerator.print(f"{label}: adapter, tokenizer and model card saved to {output_dir}")
    trainer.end()
