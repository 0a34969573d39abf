"""The steps SFT and GRPO share around their trainer: running the script (config mistakes as one line), where to
resume from, and training then saving (one log line per step, no progress bars in log files)."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

from haggle.env.config_loading import CONFIG_ERRORS, describe_config_error

_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0", "none"}


def run_script(label: str, make_parser: Callable[[], Any], main: Callable[..., None]) -> None:
    """`main(*parsed)` for a training script: a config error (an unknown key with its near miss, ...) as
    `label: message` and exit 2 (HAGGLE_DEBUG=1: the traceback), and no progress bars when stderr is a file."""
    if not sys.stderr.isatty():
        import datasets
        import transformers

        datasets.disable_progress_bars()
        transformers.utils.logging.disable_progress_bar()
    try:
        main(*make_parser().parse_args_and_config(sys.argv[1:]))
    except CONFIG_ERRORS as error:
        if os.environ.get("HAGGLE_DEBUG") == "1":
            traceback.print_exception(error)
        print(f"{label}: {describe_config_error(error)}", file=sys.stderr)
        raise SystemExit(2) from None


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
    _print_each_log_once(trainer)
    result = trainer.train(resume_from_checkpoint=checkpoint)
    trainer.log_metrics("train", result.metrics)
    trainer.save_metrics("train", result.metrics)
    trainer.save_state()
    trainer.save_model(output_dir)
    if trainer.accelerator.is_main_process:
        trainer.create_model_card(**model_card)
    trainer.accelerator.print(f"{label}: adapter, tokenizer and model card saved to {output_dir}")
    trainer.end()


def _print_each_log_once(trainer: Any) -> None:
    """Keep the scripts' one summary line per log step (EpisodeSummaryCallback): drop transformers' printing of the
    full log dict, and its progress bar unless stderr is a terminal (carriage returns garble log files)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    class BarWithoutLogs(ProgressCallback):
        def on_log(self, *args: Any, **kwargs: Any) -> None:
            pass

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if sys.stderr.isatty() and not trainer.args.disable_tqdm:
        trainer.add_callback(BarWithoutLogs)
