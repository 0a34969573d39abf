"""`haggle pipeline`: the README's main job, tiny model to eval in one resumable command (CPU, no network).

haggle pipeline --out runs/quickstart
haggle pipeline --out runs/quickstart --from sft         # redo SFT and everything after it
haggle configs copy pipeline/tiny-cpu mine.yaml          # then: haggle pipeline --config mine.yaml --out ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from haggle.pipeline import STAGES, PipelineConfig, StageFailed, before_after_table, run_pipeline

DEFAULT_CONFIG = "tiny-cpu"  # configs/pipeline/tiny-cpu.yaml


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pipeline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="directory for every stage's output")
    parser.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        help=f"pipeline YAML: a file or a built-in name (default {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "--from", dest="restart_from", choices=STAGES, help="run this stage and the later ones again"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = PipelineConfig.from_yaml(args.config)  # config mistakes: one line from haggle.cli
    try:
        paths = run_pipeline(config, args.out, restart_from=args.restart_from)
    except StageFailed as error:
        raise SystemExit(f"haggle pipeline: {error}") from None
    print("\nartefacts:")
    descriptions = {
        "tiny_model": "tiny Qwen3 (random weights, trained tokenizer)",
        "tournament": "scripted tournament episodes + leaderboard.json",
        "traces": "SFT dataset (DatasetDict, README.md card)",
        "sft": "SFT LoRA adapter",
        "grpo": "GRPO LoRA adapter",
        "eval": "untrained/, sft/, grpo/: eval.json, eval.md, plots/ of each model",
    }
    for stage, path in paths.items():
        print(f"  {stage:<11} {path}  ({descriptions[stage]})")
    try:
        table = before_after_table(paths["eval"])
    except StageFailed as error:
        raise SystemExit(f"haggle pipeline: {error}") from None
    print(f"\n{table}")
    return 0
