"""Sampled generation of the tiny Qwen3 on CPU under glibc's malloc vs jemalloc (LD_PRELOAD), same tokens.

Why: on CPU, transformers' KV cache grows by concatenation at every decoded token, so each step frees and allocates
tensors of the cache's size. Above glibc's mmap threshold (32 MiB at most) every one of them is a fresh mmap whose
pages the kernel faults in and zeroes; in the learning study's rolled-out replay (512 episodes per batch) the
process spent about 60% of its CPU time in the kernel. jemalloc keeps freed pages for reuse. The allocator does
not touch the arithmetic: both sides must print the same digest of the generated tokens.

Each run is a fresh process (the allocator is chosen at start-up): the tiny model, `--prompt-tokens` random prompt
tokens per row, `--new-tokens` sampled tokens per row exactly (min_new_tokens = max_new_tokens), torch seeded. The
work per run is the same on both sides and printed. Runs alternate A B, B A, ...; the table gives each side's
median wall seconds, kernel share of CPU time and minor page faults, and the median of the paired ratios.

    python benchmarks/bench_cpu_allocator.py --batch-sizes 8,256 --new-tokens 256 --repeats 3

jemalloc: `apt install libjemalloc2` (or `--jemalloc PATH`); MALLOC_CONF keeps freed pages (no decay).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

JEMALLOC_PATHS = ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib64/libjemalloc.so.2")
KEEP_FREED_PAGES = "dirty_decay_ms:-1,muzzy_decay_ms:-1"


def generate_once(model_dir: str, batch: int, prompt_tokens: int, new_tokens: int) -> dict[str, float | str]:
    """One timed sampled generation in this process; its CPU times, page faults and the tokens' digest."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    generator = torch.Generator().manual_seed(0)
    prompts = torch.randint(10, model.config.vocab_size, (batch, prompt_tokens), generator=generator)
    torch.manual_seed(0)
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    with torch.no_grad():
        output = model.generate(
            prompts,
            attention_mask=torch.ones_like(prompts),
            do_sample=True,
            temperature=1.0,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            pad_token_id=0,
        )
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    return {
        "wall_s": wall,
        "kernel_share": system / max(user + system, 1e-9),
        "minor_faults": after.ru_minflt - before.ru_minflt,
        "tokens": int(output[:, prompt_tokens:].numel()),
        "digest": hashlib.sha256(output.numpy().tobytes()).hexdigest()[:16],
    }


def run_side(jemalloc: str | None, model_dir: Path, batch: int, args: argparse.Namespace) -> dict:
    """One run in a fresh process: with jemalloc preloaded, or with glibc's malloc even when this benchmark was
    itself started with an allocator preloaded."""
    environment = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "MALLOC_CONF")}
    if jemalloc:
        environment |= {"LD_PRELOAD": jemalloc, "MALLOC_CONF": KEEP_FREED_PAGES}
    command = [sys.executable, __file__, "--child", str(model_dir), str(batch)]
    command += [str(args.prompt_tokens), str(args.new_tokens)]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def find_jemalloc(asked: str | None) -> str:
    for path in [asked] if asked else JEMALLOC_PATHS:
        if path and Path(path).is_file():
            return path
    raise SystemExit(
        f"no jemalloc at {asked or ' or '.join(JEMALLOC_PATHS)}: install libjemalloc2 or pass --jemalloc"
    )


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        model_dir, batch, prompt_tokens, new_tokens = sys.argv[2], *map(int, sys.argv[3:6])
        print(json.dumps(generate_once(model_dir, batch, prompt_tokens, new_tokens)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", default="8,256")
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jemalloc", help="path of libjemalloc.so.2 (default: the distribution's)")
    args = parser.parse_args()
    jemalloc = find_jemalloc(args.jemalloc)
    from haggle.training.tiny_model import build_tiny_model

    model_dir = build_tiny_model(Path(tempfile.mkdtemp()) / "tiny-model", seed=0)
    print(f"threads {os.environ.get('BENCH_THREADS', '2')}; A = glibc malloc, B = jemalloc ({jemalloc})")
    print(
        "batch | tokens per run | A wall s | B wall s | A / B | A kernel | B kernel | A faults | B faults | same tokens"
    )
    for batch in map(int, args.batch_sizes.split(",")):
        runs: dict[str, list[dict]] = {"A": [], "B": []}
        for repeat in range(args.repeats):
            for side in ("A", "B") if repeat % 2 == 0 else ("B", "A"):
                runs[side].append(run_side(jemalloc if side == "B" else None, model_dir, batch, args))
        a, b = runs["A"], runs["B"]
        ratio = statistics.median(x["wall_s"] / y["wall_s"] for x, y in zip(a, b, strict=True))
        same = {x["digest"] for x in a + b} == {a[0]["digest"]}
        assert a[0]["tokens"] == b[0]["tokens"]

        def median(side: list[dict], key: str) -> float:
            return statistics.median(x[key] for x in side)

        print(
            f"{batch} | {a[0]['tokens']} | {median(a, 'wall_s'):.1f} | {median(b, 'wall_s'):.1f} | {ratio:.2f} | "
            f"{median(a, 'kernel_share'):.0%} | {median(b, 'kernel_share'):.0%} | "
            f"{median(a, 'minor_faults'):.0f} | {median(b, 'minor_faults'):.0f} | {same}"
        )


if __name__ == "__main__":
    main()
