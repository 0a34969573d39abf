"""`haggle bench`: Haggle Bench, a frozen versioned suite (configs/bench/) played by one model into a result card,
and cards merged into a leaderboard.

    haggle bench run --suite v1 --model boulware --out runs/bench/boulware            # a scripted strategy
    haggle bench run --suite v1 --model negmas:MiCRONegotiator --out runs/bench/micro # a NegMAS strategy
    haggle bench run --suite v1 --model runs/tiny-model --out runs/bench/tiny          # a local model (hf)
    haggle bench run --suite v1 --model Qwen/Qwen3-8B --adapter runs/sft/qwen3-8b --out runs/bench/sft
    haggle bench run --suite v1 --model Qwen/Qwen3-8B --endpoint http://gpu:8000/v1 --out runs/bench/base
    haggle bench run --suite v1 --model model.yaml --out runs/bench/gpt              # an AgentSpec YAML
    haggle bench leaderboard runs/bench/*/card.json --out runs/bench/leaderboard
    haggle bench manifest --suite v1                                                 # the hash and its content
Rerunning `bench run` with the same --out resumes; the card (card.json, card.md) is rewritten from the episodes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from haggle.data.agent_specs import AgentSpec
    from haggle.eval.bench_suite import BenchSuite


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="Haggle Bench: frozen suite -> result card -> leaderboard")
    actions = parser.add_subparsers(dest="bench_command", required=True, metavar="run|leaderboard|manifest")
    run = actions.add_parser("run", help="play a suite with one model and write its result card")
    run.add_argument("--suite", default="v1", help="suite version (configs/bench/NAME.yaml) or a suite YAML")
    run.add_argument(
        "--model",
        required=True,
        help="a scripted strategy, negmas:CLASS (a NegMAS negotiator), a local model directory or hub id, a served model name (with --endpoint), "
        "or an AgentSpec YAML",
    )
    run.add_argument("--adapter", help="a LoRA adapter directory on top of --model (local models)")
    run.add_argument("--endpoint", help="OpenAI-compatible base URL serving --model")
    run.add_argument(
        "--out", type=Path, required=True, help="run directory; rerun with the same one to resume"
    )
    run.add_argument("--concurrency", type=int, default=8, help="negotiations in flight (changes no result)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(func=run_command)
    board = actions.add_parser("leaderboard", help="merge cards of one suite into a ranked table and a plot")
    board.add_argument("cards", type=Path, nargs="+", help="card.json files from `haggle bench run`")
    board.add_argument("--out", type=Path, required=True, help="folder for leaderboard.{md,json,png}")
    board.set_defaults(func=leaderboard_command)
    shown = actions.add_parser("manifest", help="print a suite's manifest (its content and hash)")
    shown.add_argument("--suite", default="v1", help="suite version or YAML")
    shown.set_defaults(func=manifest_command)


def load_suite(name: str) -> BenchSuite:
    """A built-in suite by version (configs/bench/VERSION.yaml) or a suite YAML by path."""
    from haggle.commands.configs import resolve_config
    from haggle.eval.bench_suite import BenchSuite

    return BenchSuite.load(resolve_config(name, "bench"))


def model_spec(model: str, adapter: str | None, endpoint: str | None) -> AgentSpec:
    """The agent spec a command line names (see the module docstring)."""
    from haggle.data.agent_specs import AgentSpec
    from haggle.env.agents import AGENT_REGISTRY
    from haggle.env.config_loading import load_yaml
    from haggle.eval.bench_leaderboard import REFERENCE_PREFIX

    path = Path(model)
    if path.suffix in (".yaml", ".yml"):
        return AgentSpec.from_mapping(load_yaml(path))
    if model.startswith("negmas:"):
        negotiator = model.removeprefix("negmas:")
        return AgentSpec(f"negmas-{negotiator}", strategy="negmas", params={"negotiator": negotiator})
    if endpoint is not None:
        return AgentSpec(
            model, kind="openai", params={"base_url": endpoint, "model": model, "preset": "vllm"}
        )
    if model in AGENT_REGISTRY and not path.exists():
        return AgentSpec(f"{REFERENCE_PREFIX}{model}", strategy=model)
    params = {"model": model, "thinking": False} | ({"adapter": adapter} if adapter else {})
    return AgentSpec(path.name + (f"+{Path(adapter).name}" if adapter else ""), kind="hf", params=params)


def run_command(args: argparse.Namespace) -> int:
    from haggle.data.job_runner import WorkerFailed, interrupted
    from haggle.eval.bench_card import run_bench, write_card
    from haggle.eval.eval_config import check_local_files

    try:
        suite = load_suite(args.suite)
        spec = model_spec(args.model, args.adapter, args.endpoint)
        check_local_files(spec)
        summary = run_bench(
            suite, spec, args.out, concurrency=args.concurrency, progress=not args.no_progress
        )
        card = write_card(suite, args.out)
    except KeyboardInterrupt:
        return interrupted(args.out, "haggle bench run")
    except (ValueError, ImportError, FileNotFoundError, WorkerFailed) as error:
        raise SystemExit(f"haggle bench run: {error}") from None
    print((args.out / "card.md").read_text(encoding="utf-8"))
    print(f"{summary.counts_line()}; manifest {card['manifest']['hash']}; wrote {args.out / 'card.json'}")
    return summary.report_problems(args.out, "haggle bench run")


def leaderboard_command(args: argparse.Namespace) -> int:
    from haggle.eval.bench_leaderboard import write_leaderboard

    try:
        _, markdown = write_leaderboard(args.cards, args.out, load_suite)
    except (ValueError, ImportError, FileNotFoundError, KeyError) as error:
        raise SystemExit(f"haggle bench leaderboard: {error}") from None
    print(markdown)
    return 0


def manifest_command(args: argparse.Namespace) -> int:
    from haggle.eval.bench_suite import manifest

    try:
        print(json.dumps(manifest(load_suite(args.suite)), indent=2))
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"haggle bench manifest: {error}") from None
    return 0
