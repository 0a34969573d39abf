"""`haggle eval`: a model against fixed opponents in both roles on paired scenarios, reported per opponent, role
and price tier beside theory; `haggle eval compare`: the tests between such runs.

    haggle tiny-model --out runs/tiny-model
    haggle eval --config configs/eval/tiny-cpu.yaml --out runs/eval-tiny
    haggle eval --config configs/eval/qwen3-8b.yaml --out runs/eval-sft --adapter runs/sft/qwen3-8b  # hf/vllm kinds
    HAGGLE_BASE_URL=http://gpu-node:8000/v1 haggle eval --config configs/eval/qwen3-8b.yaml --out runs/eval-base
    haggle eval compare runs/eval-base runs/eval-sft runs/eval-grpo --out runs/eval-compare
Rerunning the same eval command resumes: finished episodes are skipped, failed ones are tried again. The run
directory gets eval.json, eval.md (also printed) and plots/*.png; `--wandb` logs them to Weights & Biases too.
"""

from __future__ import annotations

import argparse
import json
import netrc
import os
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from haggle.eval.eval_config import EvalConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="a model against fixed opponents, per role and tier, with theory; `eval compare` runs"
    )
    parser.add_argument("--config", type=Path, help="eval YAML (see configs/eval/)")
    parser.add_argument("--out", type=Path, help="run directory; rerun with the same one to resume")
    parser.add_argument("--model-path", help="the model under test: a local directory, hub id or served name")
    parser.add_argument("--adapter", help="a LoRA adapter directory on top of the model (hf and vllm kinds)")
    parser.add_argument("--episodes", type=int, help="scenarios per opponent and role (overrides the config)")
    parser.add_argument("--seed", type=int, help="scenario seed (overrides the config)")
    parser.add_argument("--concurrency", type=int, help="negotiations in flight (overrides the config)")
    parser.add_argument(
        "--workers",
        type=int,
        help="processes sharing the episodes (default: one per spare CPU core, fewer on small runs)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--json", action="store_true", help="print the run summary and eval.json's content as JSON"
    )
    parser.add_argument(
        "--wandb", action="store_true", help="also log tables and plots to wandb (offline without a key)"
    )
    parser.set_defaults(func=run)

    actions = parser.add_subparsers(
        dest="eval_command", title="comparing runs (instead of --config)", metavar="compare"
    )
    compare = actions.add_parser("compare", help="per-tier tests between eval runs on their paired scenarios")
    compare.add_argument(
        "runs", type=Path, nargs="+", help="eval run directories (A, B, ...: differences B - A)"
    )
    compare.add_argument(
        "--out", dest="compare_out", type=Path, metavar="DIR", help="write compare.json and compare.md here"
    )
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")
    compare.set_defaults(func=compare_command)


def load_config(args: argparse.Namespace) -> EvalConfig:
    import yaml

    from haggle.env.config_loading import override
    from haggle.eval.eval_config import EvalConfig, check_local_files

    try:
        config = EvalConfig.from_yaml(args.config).with_model(args.model_path, args.adapter)
        overrides = {key: getattr(args, key) for key in ("episodes", "seed", "concurrency")}
        config = override(config, **{key: value for key, value in overrides.items() if value is not None})
        check_local_files(config.model)
    except (ValueError, KeyError, FileNotFoundError, yaml.YAMLError) as error:
        raise SystemExit(f"haggle eval: {error}") from None
    return config


def run(args: argparse.Namespace) -> int:
    if args.config is None or args.out is None:
        raise SystemExit(
            "haggle eval: pass --config FILE and --out RUN_DIR (or compare runs: haggle eval compare RUN_A RUN_B)"
        )
    from haggle.data.episode_store import StoreError
    from haggle.data.job_runner import WorkerFailed, interrupted
    from haggle.eval.eval_report import write_eval
    from haggle.eval.eval_run import load_run, run_eval

    config = load_config(args)
    if args.wandb:
        _prepare_wandb()
    try:
        summary = run_eval(config, args.out, progress=not args.no_progress, workers=args.workers)
    except KeyboardInterrupt:
        return interrupted(args.out, "haggle eval")
    # another game in --out, an unbuildable agent, a worker process killed
    except (ValueError, ImportError, StoreError, WorkerFailed) as error:
        raise SystemExit(f"haggle eval: {error}") from None
    data, markdown = write_eval(load_run(args.out), args.out)
    if args.json:
        print(json.dumps({"run": summary.to_dict(), "eval": data}, indent=2))
    else:
        print(markdown)
        print(
            f"{summary.counts_line()}; wrote {args.out / 'eval.json'}, {args.out / 'eval.md'} "
            f"and {len(data['plots'])} plots"
        )
    if args.wandb:
        _log_to_wandb(data, args.out)
    return summary.report_problems(args.out, "haggle eval")


def compare_command(args: argparse.Namespace) -> int:
    from haggle.data.episode_store import StoreError
    from haggle.eval.compare import write_compare

    try:
        data, markdown = write_compare(args.runs, args.compare_out)
    except (ValueError, StoreError) as error:
        raise SystemExit(f"haggle eval compare: {error}") from None
    print(json.dumps(data, indent=2) if args.json else markdown)
    return 0


# -- wandb ------------------------------------------------------------------------------------------------------
def _prepare_wandb() -> None:
    """Fail before any episode when wandb is missing; without an API key, log offline (`wandb sync` later)."""
    if find_spec("wandb") is None:
        raise SystemExit("haggle eval: --wandb needs wandb: pip install 'haggle[wandb]'")
    if not os.environ.get("WANDB_API_KEY") and not _netrc_login():
        os.environ.setdefault("WANDB_MODE", "offline")
        print("wandb: no API key found, logging offline (sync later with `wandb sync`)", file=sys.stderr)


def _netrc_login() -> bool:
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


WANDB_COLUMNS = (
    "opponent", "role", "tier", "episodes", "deal_rate", "surplus_share", "surplus_share_unconditional",
    "share_of_gains", "efficiency", "mean_rounds_to_deal", "violations_per_episode", "irrational_deals", "missed_deals",
)  # fmt: skip


def _log_to_wandb(data: dict[str, Any], out_dir: Path) -> None:
    import wandb

    run = wandb.init(
        project=os.environ.get("WANDB_PROJECT", "haggle"),
        name=out_dir.name,
        job_type="eval",
        dir=str(out_dir),
        config=data["config"],
    )
    try:
        table = wandb.Table(
            columns=[*WANDB_COLUMNS, "deal_rate_low", "deal_rate_high"],
            data=[[cell[key] for key in WANDB_COLUMNS] + cell["deal_rate_ci"] for cell in data["cells"]],
        )
        images = {f"eval/{Path(path).stem}": wandb.Image(str(out_dir / path)) for path in data["plots"]}
        run.log({"eval/results": table, **images})
        run.summary.update(
            {
                f"{cell['opponent']}/{cell['role']}/{key}": cell[key]
                for cell in data["cells"]
                if cell["tier"] == "all"
                for key in ("deal_rate", "surplus_share_unconditional", "share_of_gains", "efficiency")
            }
        )
    finally:
        run.finish()
