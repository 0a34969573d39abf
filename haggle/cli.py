"""The `haggle` command: one entry point, one module per subcommand, imported only when used."""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Callable

from haggle.env.config_loading import CONFIG_ERRORS, describe_config_error

# subcommand -> (module under haggle.commands, one-line summary). Each module defines `register(subparsers)`,
# which adds its parser and sets `func` (called with the parsed namespace, returning an exit code). The summaries
# live here so that `haggle --help` lists every command without importing any (and so never torch).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("simulate", "scripted agents on sampled scenarios: deal rate, surplus, efficiency per tier"),
    "play": ("play", "one negotiation between scripted agents as a readable transcript"),
    "theory": ("theory", "what bargaining theory predicts (second-best, posted price, ...) per tier"),
    "tournament": ("tournament", "round robin of scripted and LLM agents with a leaderboard; resumable"),
    "traces": ("traces", "tournament episodes -> an SFT dataset in TRL's chat format"),
    "tiny-model": ("tiny_model", "build the tiny random-weight Qwen3 used on CPU and in tests"),
    "eval": ("evaluate", "a model against fixed opponents per role and tier, beside theory; `eval compare`"),
    "experiment": ("experiment", "run and report presets from the bargaining literature"),
    "pipeline": (
        "pipeline",
        "tiny model -> tournament -> traces -> SFT -> GRPO -> eval in one resumable job",
    ),
    "configs": ("configs", "list the built-in configs, or copy one out to edit"),
    "export": ("export", "a run's stored episodes as JSON Lines"),
    "bench": ("bench", "Haggle Bench: a frozen suite -> a result card per model -> a leaderboard"),
}

EXAMPLES = """examples:
  haggle play --buyer tit_for_tat --seller boulware
  haggle simulate --buyer boulware --seller conceder --episodes 2000
  haggle tournament --config scripted-cpu --out runs/tournament
  haggle pipeline --out runs/quickstart
  haggle configs                       # the built-in configs, usable by name: --config tiny-cpu

`haggle COMMAND --help` describes a command; `--debug` before it shows the full traceback of an error."""


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="haggle",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error, not one line")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Import only the subcommand being run so `haggle simulate` never pays for torch or datasets.
    wanted = next((a for a in argv if a in SUBCOMMANDS), None)
    for name, (module_name, summary) in SUBCOMMANDS.items():
        if name == wanted:
            importlib.import_module(f"haggle.commands.{module_name}").register(subparsers)
        else:
            subparsers.add_parser(name, help=summary)
    return parser


def run_reporting_config_errors(label: str, debug: bool, work: Callable[[], int | None]) -> int:
    """`work()`'s exit code. A refusal is one line on stderr and exit 2: a config error (also one a command
    already turned into its own one-line exit) as `label: message`, any other one-line exit as it is; under
    `debug` the traceback too."""
    try:
        return int(work() or 0)
    except CONFIG_ERRORS as error:
        if debug:
            raise
        print(f"{label}: {describe_config_error(error)}", file=sys.stderr)
        return 2
    except SystemExit as exit_:
        if not isinstance(exit_.code, str):  # argparse's own exits and plain exit codes pass through
            raise
        cause = (
            exit_.__context__
        )  # a command's own `raise SystemExit(...) from None` while handling the error
        if debug and cause is not None:
            traceback.print_exception(cause)
        message = (
            f"{label}: {describe_config_error(cause)}" if isinstance(cause, CONFIG_ERRORS) else exit_.code
        )
        print(message, file=sys.stderr)
        return 2


# command -> the folder of configs/ whose built-in configs its `--config NAME` names
CONFIG_KINDS = {
    "simulate": "scenarios",
    "play": "scenarios",
    "theory": "scenarios",
    "tournament": "tournament",
    "eval": "eval",
    "experiment": "experiments",
    "pipeline": "pipeline",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv  # accepted anywhere on the line, not only before the command
    argv = [arg for arg in argv if arg != "--debug"]
    args = build_parser(argv).parse_args(argv)

    def work() -> int | None:
        if getattr(args, "config", None) is not None and args.command in CONFIG_KINDS:
            from haggle.commands.configs import resolve_config

            args.config = resolve_config(args.config, CONFIG_KINDS[args.command])
        return args.func(args)

    return run_reporting_config_errors(f"haggle {args.command}", debug, work)


if __name__ == "__main__":
    sys.exit(main())
