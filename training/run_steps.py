"""The steps SFT and GRPO share around their trainer: where to resume from, and training then saving."""

from __future__ import annotations

import os
from typing import Any


def resume_checkpoint(resume: bool, output_dir: str, label: str) -> str | None:
    """The last checkpoint in `output_dir` when `--resume` asks for one (SLURM requeues do), else None."""
    from transformers.trainer_utils import get_last_checkpoint

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
