"""Merge a LoRA adapter into its base model, for servers that want plain weights (vLLM, `trl vllm-serve`).

The merged directory holds the full model and the adapter's tokenizer and loads with `from_pretrained` like any
hub model, so an eval can point an endpoint or a `kind: vllm` agent at it.

    python training/merge_adapter.py --adapter runs/grpo-qwen3-8b --out runs/qwen3-8b-grpo-merged
    python training/merge_adapter.py --adapter runs/sft-tiny --out runs/tiny-sft-merged --base runs/tiny-model
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def base_model_of(adapter: Path) -> str:
    """The base model the adapter was trained on, as PEFT recorded it."""
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    return config["base_model_name_or_path"]


def merge_adapter(adapter: Path, out: Path, base: str | None = None, dtype: str = "auto") -> Path:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (adapter / "adapter_config.json").is_file():
        raise FileNotFoundError(
            f"{adapter} holds no adapter_config.json: give the output_dir of an SFT/GRPO run"
        )
    base = base or base_model_of(adapter)
    model = AutoModelForCausalLM.from_pretrained(
        base, dtype=getattr(torch, dtype) if dtype != "auto" else "auto"
    )
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    merged.save_pretrained(out)
    tokenizer_source = adapter if (adapter / "tokenizer_config.json").is_file() else base
    AutoTokenizer.from_pretrained(tokenizer_source).save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--adapter", type=Path, required=True, help="adapter directory (an SFT or GRPO output_dir)"
    )
    parser.add_argument("--out", type=Path, required=True, help="where to write the merged model")
    parser.add_argument("--base", help="base model (default: the one recorded in adapter_config.json)")
    parser.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"])
    args = parser.parse_args(argv)
    out = merge_adapter(args.adapter, args.out, args.base, args.dtype)
    print(f"merged {args.adapter} into {args.base or base_model_of(args.adapter)}: {out}")


if __name__ == "__main__":
    main()
