"""The GPU check (benchmarks/gpu_check.py) end to end on CPU at the tiny shape: the same path the GPU machine runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# what the check sets on top of configs/grpo/tiny-cpu.yaml; every other key (opponents, reward) must pass through
OVERRIDDEN = {
    "use_cpu",
    "scenarios",
    "model_name_or_path",
    "init_adapter",
    "dtype",
    "bf16",
    "lora_r",
    "lora_alpha",
    "lora_target_modules",
    "num_generations",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "generation_batch_size",
    "max_completion_length",
    "max_tool_calling_iterations",
    "max_steps",
    "save_strategy",
    "report_to",
    "logging_steps",
    "output_dir",
}


@pytest.mark.slow
def test_gpu_check_runs_grpo_through_the_script_and_reports_each_phase(tmp_path):
    command = [
        sys.executable,
        "benchmarks/gpu_check.py",
        "--out",
        str(tmp_path),
        "--shape",
        "tiny",
        "--layers",
        "1",
        "--steps",
        "2",
        "--rounds",
        "2",
        "--num-generations",
        "2",
        "--scenarios-per-step",
        "1",
        "--train-seconds",
        "600",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    summary = json.loads((tmp_path / "gpu_check.json").read_text())

    # the run went through training/grpo.py's main, on the budget its start-up check asked for
    trained_on = yaml.safe_load((tmp_path / "grpo-config.yaml").read_text())
    assert f"+ {trained_on['max_completion_length']} completion tokens" in result.stdout
    assert summary["settings"]["max_completion_length"] == trained_on["max_completion_length"]
    base = yaml.safe_load((ROOT / "configs" / "grpo" / "tiny-cpu.yaml").read_text())
    assert {key: trained_on[key] for key in base.keys() - OVERRIDDEN} == {
        key: base[key] for key in base.keys() - OVERRIDDEN
    }
    assert "use_cpu" not in trained_on and trained_on["scenarios"] == {**base["scenarios"], "max_rounds": 2}

    # every step measured; the phases add up to the step; the forced replies were valid moves, never truncated
    assert summary["steps_done"] == 2 and summary["measured_steps"] == 1
    share = summary["share"]
    assert share["generation"] + share["scoring"] + share["training"] == pytest.approx(1.0, abs=1e-3)
    for step in summary["steps"]:
        assert step["seconds"] == pytest.approx(sum(step["phase_seconds"].values()))
        assert step["generated_tokens"] > 0 and step["train_tokens"] > step["generated_tokens"]
        assert step["generate_calls"] >= 2  # the first move, then a turn after the tool reply
    assert summary["generated_tokens_per_s"] > 0 and summary["trained_tokens_per_s"] > 0
    assert summary["episodes"]["episode/valid_tool_calls"] == 1.0
    assert summary["episodes"]["episode/end/truncated"] == 0.0
    assert "GRPO step profile: tiny shape" in result.stdout and "model_generate" in result.stdout
