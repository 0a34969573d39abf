"""Greedy generation of the tiny Qwen3 with a LoRA adapter: unmerged PeftModel vs merged once at load.

Why `kind: hf` agents merge their adapter (`data/backends/hf_local.py`): every unmerged LoRA layer adds two small
matmuls per target module to every forward pass. The tiny model is built locally into a temp dir and given a LoRA
adapter with the SFT config's settings (configs/sft/tiny-cpu.yaml: rank, alpha, dropout, target modules), lora_B
drawn at random so that it changes the outputs, saved with `save_pretrained` and loaded back both ways. For each
batch size both models generate from the same left-padded batch of agents' opening chats (system prompt, opening and
tool schemas, rendered by the backend's own renderer), greedy, exactly `--new-tokens` new tokens per row. After one
untimed run of each, repeats alternate A B, B A, ...; the table gives median seconds and the median of the paired
ratios unmerged / merged. Checked on the same input in float32: the largest |logit difference| of one forward pass
(non-padding positions) and whether greedy decoding produced the same tokens.

One torch thread by default: on cores other jobs are using, several threads spin-wait on each other and both sides
run many times slower, by amounts that vary run to run; `--threads 0` leaves torch its own choice.

    python benchmarks/bench_adapter_merge.py --batch-sizes 1,16,64 --new-tokens 96 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from haggle.data.backends.batching import ChatRequest, render_prompts
from haggle.data.transcript import Transcript
from haggle.env.actions import tool_schemas
from haggle.env.config_loading import load_yaml
from haggle.env.negotiation import Negotiation
from haggle.env.scenario import ROLES, ScenarioSampler
from haggle.training.tiny_model import build_tiny_model
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as transformers_logging

from haggle.testing.greedy import greedy_generate

SFT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "sft" / "tiny-cpu.yaml"


def save_random_adapter(model_dir: Path, out: Path, seed: int) -> Path:
    """A LoRA adapter with the SFT config's rank, alpha, dropout and target modules; `init_lora_weights=False`
    draws lora_B at random too (PEFT's default zeros it), so the adapter changes what the model says."""
    sft = load_yaml(SFT_CONFIG)
    config = LoraConfig(
        r=sft["lora_r"],
        lora_alpha=sft["lora_alpha"],
        lora_dropout=sft["lora_dropout"],
        target_modules=sft["lora_target_modules"],
        task_type="CAUSAL_LM",
        init_lora_weights=False,
    )
    torch.manual_seed(seed)
    get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), config).save_pretrained(str(out))
    return out


def load_both(model_dir: Path, adapter: Path) -> tuple[Any, Any]:
    """(unmerged PeftModel, the same adapter merged into the weights), both in eval mode."""
    unmerged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), str(adapter))
    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), str(adapter))
    return unmerged.eval(), merged.merge_and_unload().eval()


def opening_chats(count: int) -> list[ChatRequest]:
    """What LLM agents read before their first move, for `count` sampled scenarios and both roles in turn."""
    requests = []
    for index, scenario in enumerate(ScenarioSampler().sample(count, seed=0)):
        transcript = Transcript()
        transcript.observe(Negotiation(scenario).view(ROLES[index % 2]))
        requests.append(ChatRequest(transcript.messages, tool_schemas(), seed=index))
    return requests


def greedy(model: Any, batch: dict[str, torch.Tensor], new_tokens: int, pad_id: int) -> tuple[float, Any]:
    """Seconds and output of greedy generation of exactly `new_tokens` tokens per row."""
    start = time.perf_counter()
    output = greedy_generate(model, batch, new_tokens, pad_id, exact=True)
    return time.perf_counter() - start, output


def max_logit_difference(unmerged: Any, merged: Any, batch: dict[str, torch.Tensor]) -> float:
    """The largest |logit difference| over the positions that are not padding."""
    with torch.no_grad():
        difference = (unmerged(**batch).logits - merged(**batch).logits).abs()
    return float(difference[batch["attention_mask"].bool()].max())


def time_batch(
    models: tuple[Any, Any], batch: dict[str, torch.Tensor], new_tokens: int, repeats: int, pad_id: int
) -> tuple[list[float], list[float], bool]:
    """Seconds of each repeat (unmerged, merged), alternating which goes first, after one untimed run of each
    (first calls pay one-off set-up), and whether every run of both produced the same tokens."""
    warm = [greedy(model, batch, new_tokens, pad_id)[1] for model in models]
    unmerged_seconds, merged_seconds, same = [], [], torch.equal(*warm)
    for repeat in range(repeats):
        order = (0, 1) if repeat % 2 == 0 else (1, 0)
        runs = {side: greedy(models[side], batch, new_tokens, pad_id) for side in order}
        unmerged_seconds.append(runs[0][0])
        merged_seconds.append(runs[1][0])
        same = same and torch.equal(runs[0][1], runs[1][1])
    return unmerged_seconds, merged_seconds, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", default="1,16,64", help="comma-separated batch sizes")
    parser.add_argument("--new-tokens", type=int, default=96, help="tokens generated per row (fixed)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side per batch size")
    parser.add_argument("--seed", type=int, default=0, help="seed of the adapter's random weights")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    batch_sizes = [int(size) for size in args.batch_sizes.split(",")]
    transformers_logging.set_verbosity_error()

    with tempfile.TemporaryDirectory(prefix="bench-adapter-merge-") as tmp:
        model_dir = build_tiny_model(Path(tmp) / "tiny-model", seed=0)
        adapter = save_random_adapter(model_dir, Path(tmp) / "adapter", args.seed)
        models = load_both(model_dir, adapter)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        tokenizer.padding_side = "left"
        prompts = render_prompts(tokenizer, opening_chats(max(batch_sizes)), thinking=False)

        lora = models[0].peft_config["default"]
        print(
            f"tiny Qwen3, {models[1].num_parameters():,} parameters, float32 on CPU, {torch.get_num_threads()} "
            f"torch thread(s); LoRA r={lora.r} alpha={lora.lora_alpha} on {sorted(lora.target_modules)}"
        )
        print(
            f"work per run, the same for both sides: one greedy generate of the batch, {args.new_tokens} new "
            f"tokens per row; 1 untimed + {args.repeats} timed runs each, A B / B A alternating"
        )
        print(
            f"{'batch':>5} {'prompt tokens (padded/row)':>27} {'new tokens':>11} {'unmerged s':>11} "
            f"{'merged s':>9} {'ratio':>6} {'max |dlogit|':>13} {'same tokens':>11}"
        )
        for size in batch_sizes:
            batch = tokenizer(prompts[:size], return_tensors="pt", padding=True, add_special_tokens=False)
            unmerged_s, merged_s, same = time_batch(
                models, batch, args.new_tokens, args.repeats, tokenizer.pad_token_id
            )
            ratio = statistics.median(u / m for u, m in zip(unmerged_s, merged_s, strict=True))
            width, real = batch["input_ids"].shape[1], int(batch["attention_mask"].sum())
            print(
                f"{size:>5} {f'{real} ({width})':>27} {size * args.new_tokens:>11} "
                f"{statistics.median(unmerged_s):>11.2f} {statistics.median(merged_s):>9.2f} {ratio:>5.1f}x "
                f"{max_logit_difference(*models, batch):>13.2e} {str(same):>11}"
            )


if __name__ == "__main__":
    main()
