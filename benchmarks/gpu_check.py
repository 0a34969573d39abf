"""One GRPO run of a Qwen3-0.6B-shaped model through the real script, timed by phase: the GPU check of issue 11.

The model has Qwen3-0.6B's shape (151,936-token vocabulary, 28 layers, hidden 1024, 16/8 heads of 128, MLP 3072,
tied embeddings) and random weights built here, with the tiny model's tokenizer (Qwen3's pipeline, added tokens
and chat template, so TRL treats it as Qwen3: `training/tiny_model.py`). Training is `training/grpo.py`'s own
`main`, called as `python training/grpo.py --config X` calls it, on a config derived at run time from
configs/grpo/tiny-cpu.yaml: no `use_cpu`, bf16 on CUDA, LoRA r64 on every linear layer, 8 generations per
scenario, `max_rounds` 10, `max_completion_length` what the start-up budget check asks for, the opponent as the
YAML has it. Extra arguments go to the script's parser as they are (e.g. `--activation_checkpointing true`).

Random weights never finish an episode, so the model's replies are forced token by token (a logits mask on
Qwen3ForCausalLM.generate): each move is the start-up check's two sentences and a `make_offer` call whose digits
the model samples; once a tool reply says the game is over, only the end-of-turn token. Every other token still
costs a full forward pass, so generated lengths and turns are those of a talking model playing to the end.
Generation is plain transformers (vLLM is not on the GPU machine), so the generation share is an upper bound.

Measured by wrapping the trainer class's methods in this process only, per optimiser step (the first is the
warm-up): seconds of model generation (`_generate_single_turn`), tools and environment (the rest of
`_generate`), scoring (the rest of `_generate_and_score_completions`: rewards, advantages), loss forward
(`compute_loss`), backward, and the rest of the step (optimiser); peak GPU memory of each phase; generated tokens
per second of generation; trained tokens per second of forward and backward. `--out` gets gpu_check.json
(rewritten after every step, so a run cut short leaves what it measured) and the config it trained on.

    bash benchmarks/gpu_check.sh                      # on the GPU machine (see its header)
    python benchmarks/gpu_check.py --shape tiny --layers 1 --steps 2 --rounds 2 --num-generations 2 \\
        --scenarios-per-step 1                        # the same path on CPU in about a minute
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any
from unittest.mock import patch

import accelerate
import peft
import torch
import transformers
import trl
import yaml
from haggle.env.config_loading import load_yaml
from haggle.env.negotiation import ProtocolRules
from haggle.env.prompts import GAME_OVER
from haggle.env.scenario import SamplerConfig, ScenarioSampler
from haggle.training import grpo
from haggle.training.grpo_trainer import REPLY_TEXT, LockstepGRPOTrainer, episode_budget, full_length_episode
from haggle.training.negotiation_env import last_turn_text
from haggle.training.run_steps import run_script
from haggle.training.tiny_model import MODEL_SIZES, build_tiny_model
from transformers import (
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    Qwen3Config,
    Qwen3ForCausalLM,
    TrainerCallback,
)

ROOT = Path(__file__).resolve().parents[1]
BASE_CONFIG = ROOT / "configs" / "grpo" / "tiny-cpu.yaml"
# Qwen/Qwen3-0.6B's config.json where it differs from the tiny model's (rope, norm eps, tied embeddings agree)
SHAPES: dict[str, dict[str, Any]] = {
    "qwen3-0.6b": {
        "vocab_size": 151936,
        "hidden_size": 1024,
        "intermediate_size": 3072,
        "num_hidden_layers": 28,
        "max_window_layers": 28,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "initializer_range": 0.02,
    },
    "tiny": {},  # training/tiny_model.py's shape and vocabulary: the CPU proof of the same path
}
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PRICE_DIGITS = 3
GIB = 2**30


# ---- the model


def build_model(work: Path, shape: str, layers: int | None, dtype: torch.dtype) -> tuple[Path, int]:
    """Random weights of `shape` saved as on the hub, with the tiny model's tokenizer files. Its ids are the first
    of the vocabulary; the others are never generated (replies are forced), but every logit is computed."""
    source = build_tiny_model(work / "tokenizer-source")
    tiny = Qwen3Config.from_pretrained(source)
    sizes = {**MODEL_SIZES, "vocab_size": tiny.vocab_size, **SHAPES[shape]}
    if layers:
        sizes |= {"num_hidden_layers": layers, "max_window_layers": layers}
    config = Qwen3Config(bos_token_id=tiny.bos_token_id, eos_token_id=tiny.eos_token_id, **sizes)
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):  # initialising 0.6B on a GPU is quick
        model = Qwen3ForCausalLM(config)
    model.to(dtype)  # type: ignore[arg-type]  # transformers wraps `to` in a decorator mypy misreads
    model.generation_config = GenerationConfig.from_pretrained(source)
    model_dir = work / "model"
    model.save_pretrained(model_dir)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(source / name, model_dir / name)
    parameters = model.num_parameters()
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # the trainer loads its own copy; this one must not count in its memory
    return model_dir, parameters


# ---- the forced replies


class ForcedTokens(LogitsProcessor):
    """Masks each row's logits to the tokens its reply allows at this position (`table[row, position]`, padded by
    repeating), so the model samples among them: one token mostly, any digit inside the price."""

    def __init__(self, table: torch.Tensor, start: int) -> None:
        self.table, self.start = table, start

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        position = min(input_ids.shape[1] - self.start, self.table.shape[1] - 1)
        mask = torch.full_like(scores, float("-inf"))
        mask.scatter_(1, self.table[:, position, :], 0.0)
        return scores + mask  # type: ignore[return-value]


@dataclass
class ForcedPolicy:
    """The replies of a talking model that plays every episode to its end: the start-up budget check's move text
    and a `make_offer` call, then, once a tool reply says the game is over, only the end of the turn."""

    tokenizer: Any
    move: list[list[int]] = field(init=False)
    done: list[list[int]] = field(init=False)

    def __post_init__(self) -> None:
        def tokens(text: str) -> list[list[int]]:
            return [[token] for token in self.tokenizer(text, add_special_tokens=False)["input_ids"]]

        digits = [self.tokenizer(str(digit), add_special_tokens=False)["input_ids"][0] for digit in range(10)]
        end = [[self.tokenizer.eos_token_id]]
        opening = REPLY_TEXT + '\n<tool_call>\n{"name": "make_offer", "arguments": {"price": '
        price = [digits[1:]] + [digits] * (PRICE_DIGITS - 1)
        self.move = tokens(opening) + price + tokens("}}\n</tool_call>") + end
        self.done = end

    def processor(self, input_ids: torch.Tensor) -> ForcedTokens:
        replies = [
            self.done if GAME_OVER in last_turn_text(self.tokenizer, row) else self.move
            for row in input_ids.tolist()
        ]
        length, width = max(map(len, replies)), max(len(slot) for reply in replies for slot in reply)
        table = [
            [(slot * width)[:width] for slot in reply + [reply[-1]] * (length - len(reply))]
            for reply in replies
        ]
        return ForcedTokens(torch.tensor(table, device=input_ids.device), input_ids.shape[1])

    def generate(self, original: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(original)
        def generate(model: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs["logits_processor"] = LogitsProcessorList([self.processor(kwargs["input_ids"])])
            return original(model, *args, **kwargs)

        return generate


# ---- the measurements


@dataclass
class Frame:
    name: str
    start: float
    children: float = 0.0


class PhaseClock:
    """Own seconds (children excluded) and peak GPU memory (children included) of nested phases, per step.

    Entering a phase folds the peak so far into the open phases, then resets the counter, so each phase reads
    its own peak at exit; the counter is not reset at exit, so an enclosing phase still sees its children's."""

    def __init__(self) -> None:
        self.cuda = torch.cuda.is_available()
        self.stack: list[Frame] = []
        self.open_peaks: list[int] = []
        self.seconds: dict[str, float] = defaultdict(float)
        self.peaks: dict[str, int] = defaultdict(int)
        self.counts: dict[str, int] = defaultdict(int)
        self.reserved = 0  # the allocator's peak, over all phases of the step

    def enter(self, name: str) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.open_peaks = [max(peak, torch.cuda.max_memory_allocated()) for peak in self.open_peaks]
            self.reserved = max(self.reserved, torch.cuda.max_memory_reserved())
            torch.cuda.reset_peak_memory_stats()
        self.stack.append(Frame(name, time.perf_counter()))
        self.open_peaks.append(0)

    def exit(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
        frame, peak = self.stack.pop(), self.open_peaks.pop()
        elapsed = time.perf_counter() - frame.start
        self.seconds[frame.name] += elapsed - frame.children
        if self.stack:
            self.stack[-1].children += elapsed
        if self.cuda:
            self.peaks[frame.name] = max(self.peaks[frame.name], peak, torch.cuda.max_memory_allocated())
            self.reserved = max(self.reserved, torch.cuda.max_memory_reserved())
            self.peaks["reserved"] = self.reserved

    def timed(self, name: str, func: Callable[..., Any], count: Callable[..., None] | None = None) -> Any:
        @wraps(func)
        def phase(*args: Any, **kwargs: Any) -> Any:
            self.enter(name)
            try:
                result = func(*args, **kwargs)
            finally:
                self.exit()
            if count is not None:
                count(result, *args, **kwargs)
            return result

        return phase

    def take(self) -> dict[str, Any]:
        """This step's numbers, and a fresh start for the next."""
        taken = {"seconds": dict(self.seconds), "peak_bytes": dict(self.peaks), "counts": dict(self.counts)}
        self.seconds, self.peaks, self.counts = defaultdict(float), defaultdict(int), defaultdict(int)
        self.reserved = 0
        return taken


PHASES = {  # report name: the wrapped method whose own time it is
    "model_generate": "_generate_single_turn",
    "tools_and_env": "_generate",
    "scoring": "_generate_and_score_completions",
    "loss_forward": "compute_loss",
}
LOGGED = (
    "reward",
    "episode/tool_calls",
    "episode/valid_tool_calls",
    "episode/completion_tokens",
    "episode/rounds",
    "episode/deal_rate",
    "episode/end/truncated",
)


class Recorder(TrainerCallback):
    """Times each optimiser step as a phase of its own, keeps the trainer's logs, writes the JSON every step, and
    stops training before `train_seconds` would be overrun (the shell's time limit must not cut the run)."""

    def __init__(self, clock: PhaseClock, settings: dict[str, Any], out: Path, train_seconds: float) -> None:
        self.clock, self.settings, self.out, self.train_seconds = clock, settings, out, train_seconds
        self.steps: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        self.started = 0.0
        self.stopped_early = False

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.perf_counter()

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.clock.take()  # drop anything counted between steps
        self.clock.enter("step")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.clock.exit()
        self.steps.append(step_record(self.clock.take()))
        spent = time.perf_counter() - self.started
        if state.global_step < args.max_steps and spent + self.steps[-1]["seconds"] > self.train_seconds:
            control.should_training_stop = self.stopped_early = True
        self.write()

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        self.logs.append({"step": state.global_step, **(logs or {})})

    def write(self) -> dict[str, Any]:
        summary = summarise(self.steps, self.logs, self.settings, self.stopped_early)
        (self.out / "gpu_check.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary


def step_record(taken: dict[str, Any]) -> dict[str, Any]:
    seconds, counts = taken["seconds"], taken["counts"]
    own = {name: seconds.get(method, 0.0) for name, method in PHASES.items()}
    own["backward"] = seconds.get("backward", 0.0)
    own["optimizer_and_other"] = seconds.get("step", 0.0)
    peaks = {
        name: taken["peak_bytes"].get(method) for name, method in {**PHASES, "backward": "backward"}.items()
    }
    peaks |= {"step": taken["peak_bytes"].get("step"), "step_reserved": taken["peak_bytes"].get("reserved")}
    return {
        "seconds": sum(own.values()),
        "phase_seconds": own,
        "peak_gib": {name: None if value is None else round(value / GIB, 3) for name, value in peaks.items()},
        **counts,
    }


def summarise(
    steps: list[dict[str, Any]], logs: list[dict[str, Any]], settings: dict[str, Any], stopped_early: bool
) -> dict[str, Any]:
    measured = steps[1:] or steps  # the first step is the warm-up (CUDA kernels, allocator, compile caches)
    summary: dict[str, Any] = {
        "settings": settings,
        "steps_done": len(steps),
        "stopped_by_time_budget": stopped_early,
    }
    if not measured:
        return summary | {"steps": steps, "trainer_logs": logs}
    total = sum(step["seconds"] for step in measured)
    phase = {
        name: sum(step["phase_seconds"][name] for step in measured) for name in measured[0]["phase_seconds"]
    }
    generation = phase["model_generate"] + phase["tools_and_env"]
    training = phase["loss_forward"] + phase["backward"] + phase["optimizer_and_other"]
    generated = sum(step.get("generated_tokens", 0) for step in measured)
    trained = sum(step.get("train_tokens", 0) for step in measured)
    peaks = [step["peak_gib"] for step in measured]
    logged = [log for log in logs if log.get("step", 0) > (1 if len(steps) > 1 else 0)]
    summary |= {
        "measured_steps": len(measured),
        "warmup_step_seconds": round(steps[0]["seconds"], 3),
        "step_seconds_mean": round(total / len(measured), 3),
        "share": {
            "generation": round(generation / total, 4),
            "scoring": round(phase["scoring"] / total, 4),
            "training": round(training / total, 4),
            **{name: round(seconds / total, 4) for name, seconds in phase.items()},
        },
        "phase_seconds_per_step": {
            name: round(seconds / len(measured), 3) for name, seconds in phase.items()
        },
        "peak_gpu_gib": {
            name: max((p[name] for p in peaks if p[name] is not None), default=None) for name in peaks[0]
        },
        "host_peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB, 3),
        "generated_tokens_per_step": generated / len(measured),
        "generated_tokens_per_s": round(generated / max(phase["model_generate"], 1e-9), 1),
        "generate_calls_per_step": sum(step.get("generate_calls", 0) for step in measured) / len(measured),
        "trained_tokens_per_step": trained / len(measured),
        "trained_tokens_per_s": round(trained / max(phase["loss_forward"] + phase["backward"], 1e-9), 1),
        "episodes": {
            key: round(sum(log[key] for log in logged if key in log) / count, 4)
            for key in LOGGED
            if (count := sum(key in log for log in logged))
        },
        "steps": steps,
        "trainer_logs": logs,
    }
    return summary


@contextmanager
def instrumented(clock: PhaseClock, policy: ForcedPolicy, recorder: Recorder) -> Iterator[None]:
    """The trainer class and the model class measured and forced for the duration, in this process only."""

    def count_generated(
        result: Any, trainer: Any, prompt_ids: list[list[int]], *args: Any, **kwargs: Any
    ) -> None:
        clock.counts["generated_tokens"] += sum(map(len, result[0]))
        clock.counts["generate_calls"] += 1
        clock.counts["generated_rows"] += len(prompt_ids)

    def count_trained(
        result: Any, trainer: Any, model: Any, inputs: dict[str, Any], *args: Any, **kw: Any
    ) -> None:
        clock.counts["train_tokens"] += int(inputs["prompt_mask"].sum() + inputs["completion_mask"].sum())

    original_init = LockstepGRPOTrainer.__init__

    def init(trainer: LockstepGRPOTrainer, *args: Any, **kwargs: Any) -> None:
        original_init(trainer, *args, **kwargs)
        trainer.add_callback(recorder)

    counters: dict[str, Callable[..., None]] = {
        "_generate_single_turn": count_generated,
        "compute_loss": count_trained,
    }
    with ExitStack() as stack:
        for method in PHASES.values():
            wrapped = clock.timed(method, getattr(LockstepGRPOTrainer, method), counters.get(method))
            stack.enter_context(patch.object(LockstepGRPOTrainer, method, wrapped))
        stack.enter_context(patch.object(LockstepGRPOTrainer, "__init__", init))
        backward = clock.timed("backward", accelerate.Accelerator.backward)
        stack.enter_context(patch.object(accelerate.Accelerator, "backward", backward))
        stack.enter_context(
            patch.object(Qwen3ForCausalLM, "generate", policy.generate(Qwen3ForCausalLM.generate))
        )
        yield


# ---- the run


def derived_config(
    options: argparse.Namespace, model_dir: Path, tokenizer: Any, cuda: bool
) -> dict[str, Any]:
    """configs/grpo/tiny-cpu.yaml with the GPU check's settings; everything else (opponent, reward) as it is."""
    config = load_yaml(BASE_CONFIG)
    config.pop("use_cpu", None)
    scenarios = {**(config.get("scenarios") or {}), "max_rounds": options.rounds}
    max_violations = config.get("max_violations", ProtocolRules.max_violations)
    episode = full_length_episode(ScenarioSampler(SamplerConfig.from_mapping(scenarios)), max_violations)
    budget = episode_budget(tokenizer, episode, config.get("chat_template_kwargs") or {})
    config.update(
        scenarios=scenarios,
        model_name_or_path=str(model_dir),
        init_adapter=None,  # random weights have no SFT adapter: a fresh LoRA
        dtype="bfloat16" if cuda else "float32",
        bf16=cuda,
        lora_r=options.lora_r,
        lora_alpha=2 * options.lora_r,
        lora_target_modules=ALL_LINEAR,
        num_generations=options.num_generations,
        per_device_train_batch_size=options.num_generations,
        gradient_accumulation_steps=options.scenarios_per_step,
        generation_batch_size=options.num_generations * options.scenarios_per_step,
        max_completion_length=budget.completion_tokens,  # what refuse_short_budget asks for, no more
        max_tool_calling_iterations=options.rounds + max_violations + 1,
        max_steps=options.steps,
        save_strategy="no",
        report_to="none",
        logging_steps=1,
        output_dir=str(options.work / "trainer"),
    )
    return config


def print_table(summary: dict[str, Any]) -> None:
    settings = summary["settings"]
    print(
        f"\nGRPO step profile: {settings['shape']} shape, {settings['layers']} layers, "
        f"{settings['parameters'] / 1e6:.1f}M parameters, on {settings['device']} "
        f"({settings['dtype']}, LoRA r{settings['lora_r']} on all linear layers)\n"
        f"{settings['rollouts_per_step']} rollouts per step ({settings['scenarios_per_step']} scenarios x "
        f"{settings['num_generations']}), {settings['max_rounds']} rounds, max_completion_length "
        f"{settings['max_completion_length']}, transformers generate, forced replies"
    )
    if "measured_steps" not in summary:
        print("no step finished")
        return
    measured = (
        f"mean of {summary['measured_steps']} steps after it"
        if summary["steps_done"] > 1
        else "no step after it: the numbers below are the warm-up's"
    )
    stopped = " (stopped by --train-seconds)" if summary["stopped_by_time_budget"] else ""
    print(
        f"warm-up step {summary['warmup_step_seconds']:.2f} s; {measured}: {summary['step_seconds_mean']:.2f} s"
        f"{stopped}"
    )
    peaks = summary["peak_gpu_gib"]
    rows = [
        ("generation", summary["share"]["generation"], None, None),
        *[
            (f"  {name}", summary["share"][name], name, peaks.get(name))
            for name in ("model_generate", "tools_and_env")
        ],
        ("scoring", summary["share"]["scoring"], "scoring", peaks.get("scoring")),
        ("training", summary["share"]["training"], None, None),
        *[
            (f"  {name}", summary["share"][name], name, peaks.get(name))
            for name in ("loss_forward", "backward", "optimizer_and_other")
        ],
    ]
    print(f"{'phase':<24}{'share':>8}{'s/step':>10}{'peak GiB':>10}")
    for label, share, name, peak in rows:
        seconds = summary["phase_seconds_per_step"][name] if name else share * summary["step_seconds_mean"]
        print(f"{label:<24}{share:>8.1%}{seconds:>10.2f}{'-' if peak is None else f'{peak:.2f}':>10}")
    gpu = (
        f"peak GPU memory in a step: {peaks['step']} GiB allocated, {peaks['step_reserved']} GiB reserved"
        if peaks.get("step") is not None
        else "no GPU memory to measure"
    )
    print(
        f"{gpu}; host peak RSS {summary['host_peak_rss_gib']} GiB\n"
        f"generated {summary['generated_tokens_per_step']:.0f} tokens/step in "
        f"{summary['generate_calls_per_step']:.1f} generate calls: {summary['generated_tokens_per_s']:.0f} tokens/s "
        f"of generation; trained {summary['trained_tokens_per_step']:.0f} tokens/step: "
        f"{summary['trained_tokens_per_s']:.0f} tokens/s of forward+backward\n"
        "episodes (means): " + ", ".join(f"{key} {value:g}" for key, value in summary["episodes"].items())
    )


def parse_options() -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], epilog="Other arguments go to training/grpo.py's parser."
    )
    parser.add_argument("--out", type=Path, default=Path("runs/gpu-check"), help="gpu_check.json goes here")
    parser.add_argument("--work", type=Path, help="the model and the trainer's output (default: OUT/work)")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="qwen3-0.6b")
    parser.add_argument("--layers", type=int, help="decoder layers (default: the shape's)")
    parser.add_argument("--steps", type=int, default=5, help="optimiser steps; the first is the warm-up")
    parser.add_argument("--rounds", type=int, default=10, help="max_rounds of the negotiation")
    parser.add_argument("--num-generations", type=int, default=8, help="rollouts per scenario")
    parser.add_argument("--scenarios-per-step", type=int, default=4, help="= gradient_accumulation_steps")
    parser.add_argument("--lora-r", type=int, default=64, help="LoRA rank (alpha is twice it)")
    parser.add_argument(
        "--train-seconds", type=float, default=200.0, help="no step starts that would end past this"
    )
    options, passthrough = parser.parse_known_args()
    options.work = options.work or options.out / "work"
    return options, passthrough


def main() -> None:
    options, passthrough = parse_options()
    options.out.mkdir(parents=True, exist_ok=True)
    cuda = torch.cuda.is_available()
    started = time.perf_counter()
    model_dir, parameters = build_model(
        options.work, options.shape, options.layers, torch.bfloat16 if cuda else torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    config = derived_config(options, model_dir, tokenizer, cuda)
    config_path = options.out / "grpo-config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    settings = {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "versions": {
            module.__name__: module.__version__ for module in (torch, transformers, trl, peft, accelerate)
        },
        "shape": options.shape,
        "layers": options.layers
        or SHAPES[options.shape].get("num_hidden_layers", MODEL_SIZES["num_hidden_layers"]),
        "parameters": parameters,
        "dtype": config["dtype"],
        "lora_r": options.lora_r,
        "num_generations": options.num_generations,
        "scenarios_per_step": options.scenarios_per_step,
        "rollouts_per_step": options.num_generations * options.scenarios_per_step,
        "max_rounds": options.rounds,
        "max_completion_length": config["max_completion_length"],
        "max_steps": options.steps,
        "generation": "transformers generate (no vLLM), replies forced",
        "command_line_overrides": passthrough,
        "config": str(config_path),
        "model_build_seconds": round(time.perf_counter() - started, 1),
    }
    clock = PhaseClock()
    recorder = Recorder(clock, settings, options.out, options.train_seconds)
    sys.argv = [str(ROOT / "training" / "grpo.py"), "--config", str(config_path), *passthrough]
    try:
        with instrumented(clock, ForcedPolicy(tokenizer), recorder):
            run_script("grpo", grpo.make_parser, grpo.main)
    finally:
        settings["total_seconds"] = round(time.perf_counter() - started, 1)
        summary = recorder.write()
    print_table(summary)
    print(f"written: {options.out / 'gpu_check.json'}")


if __name__ == "__main__":
    main()
