"""The `haggle` command: one entry point, one module per subcommand, imported only when used."""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> module under haggle.commands. Each module defines `register(subparsers)`, which adds its
# parser and sets `func` (called with the parsed namespace, returning an exit code).
SUBCOMMANDS: dict[str, str] = {
    "simulate": "simulate",
    "play": "play",
    "tournament": "tournament",
    "traces": "traces",
    "tiny-model": "tiny_model",
    "eval": "evaluate",
    "theory": "theory",
    "experiment": "experiment",
    "pipeline": "pipeline",
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="haggle", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Import only the subcommand being run so `haggle simulate` never pays for torch or datasets.
    wanted = next((a for a in argv if a in SUBCOMMANDS), None)
    for name in SUBCOMMANDS:
        if name == wanted:
            module = importlib.import_module(f"haggle.commands.{SUBCOMMANDS[name]}")
            module.register(subparsers)
        else:
            subparsers.add_parser(name, help=f"(run `haggle {name} --help`)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
