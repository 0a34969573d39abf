"""`haggle tiny-model`: build the tiny random-weight Qwen3 that runs on CPU (tests, smoke runs); no download.

It loads with `AutoModelForCausalLM` / `AutoTokenizer.from_pretrained(DIR)` like a hub model, so every stage
takes it where it takes Qwen/Qwen3-8B (`--model_name_or_path DIR`, `model: DIR` in agent configs).

    haggle tiny-model --out runs/tiny-model
    haggle tiny-model --out runs/tiny-model --seed 1 --force --json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tiny-model", description=__doc__)
    parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="directory to write the model to"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (not the tokenizer)")
    parser.add_argument("--force", action="store_true", help="rebuild even if DIR already holds this build")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a line")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from haggle.training.tiny_model import STAMP_NAME, build_tiny_model, is_complete_build
    except ImportError as error:
        raise SystemExit(
            f"the tiny model needs the training stack: pip install -e '.[train]' ({error})"
        ) from None
    reused = not args.force and is_complete_build(args.out, args.seed)
    try:
        out = build_tiny_model(args.out, seed=args.seed, force=args.force)
    except FileExistsError as error:
        raise SystemExit(str(error)) from None
    stamp = json.loads((out / STAMP_NAME).read_text())
    if args.json:
        print(json.dumps({"path": str(out), "reused": reused, **stamp}))
    else:
        what = "reused the" if reused else "built a"
        print(
            f"{what} tiny Qwen3 (seed {stamp['seed']}, {stamp['parameters']:,} parameters, "
            f"{stamp['vocab_size']:,} tokens) in {out}"
        )
    return 0
