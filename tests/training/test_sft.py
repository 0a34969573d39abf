"""SFT: the loss covers the assistant's tool calls only, and training/sft.py runs, saves and resumes as a user runs it."""

import json
from pathlib import Path

import pytest
from haggle.training.configs import HaggleSFTConfig
from haggle.training.sft import load_sft_dataset
from peft import LoraConfig

ROOT = Path(__file__).resolve().parents[2]


def test_loss_is_on_the_assistants_tool_calls_only(tiny_model_dir, sft_dataset_dir, tmp_path):
    from transformers import AutoTokenizer
    from trl import SFTTrainer

    dataset = load_sft_dataset(str(sft_dataset_dir), chat_template_kwargs={"enable_thinking": False})
    args = HaggleSFTConfig(
        output_dir=str(tmp_path), assistant_only_loss=True, use_cpu=True, report_to="none", max_length=4096
    )
    trainer = SFTTrainer(
        model=str(tiny_model_dir),
        args=args,
        train_dataset=dataset["train"].select(range(4)),
        processing_class=AutoTokenizer.from_pretrained(tiny_model_dir),
        peft_config=LoraConfig(r=4, target_modules=["q_proj"]),
    )
    tokenizer, example = trainer.processing_class, trainer.train_dataset[0]
    trained = tokenizer.decode(
        [t for t, label in zip(example["input_ids"], example["labels"], strict=True) if label != -100]
    )
    ignored = tokenizer.decode(
        [t for t, label in zip(example["input_ids"], example["labels"], strict=True) if label == -100]
    )
    calls = sum(bool(message["tool_calls"]) for message in dataset["train"][0]["messages"])
    assert calls >= 2 and trained.count("<tool_call>") == calls
    assert '"name": "make_offer"' in trained or '"name": "accept_offer"' in trained
    assert "<|im_end|>" in trained  # the model learns to end its turn
    assert "Round 1 of" not in trained and "<tool_response>" not in trained and "private value" not in trained
    assert "<tool_response>" in ignored and "private value" in ignored


@pytest.mark.slow
def test_sft_saves_a_trained_adapter_with_its_tokenizer_and_card(sft_adapter_dir):
    from safetensors.torch import load_file

    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md"):
        assert (sft_adapter_dir / name).is_file(), name
    weights = load_file(str(sft_adapter_dir / "adapter_model.safetensors"))
    lora_b = [tensor for key, tensor in weights.items() if "lora_B" in key]
    assert lora_b and any(tensor.abs().sum() > 0 for tensor in lora_b)  # B starts at zero: training moved it
    logs = json.loads((sft_adapter_dir / "trainer_state.json").read_text())["log_history"]
    losses = [entry["loss"] for entry in logs if "loss" in entry]
    assert len(losses) >= 2 and losses[-1] < losses[0]


@pytest.mark.slow
def test_sft_adapter_loads_on_the_base_model(tiny_model_dir, sft_adapter_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), sft_adapter_dir)
    assert model.active_adapter == "default" and any("lora_B" in name for name, _ in model.named_parameters())


@pytest.mark.slow
def test_sft_resumes_from_its_last_checkpoint(tiny_model_dir, sft_dataset_dir, tmp_path, run_sft):
    common = [
        "--model_name_or_path",
        tiny_model_dir,
        "--dataset_name",
        sft_dataset_dir,
        "--output_dir",
        tmp_path,
    ]
    first = run_sft(*common, "--max_steps", 2, "--save_steps", 2, "--logging_steps", 1)
    assert "starting fresh" in first and "[step 2/2]" in first
    resumed = run_sft(*common, "--max_steps", 4, "--save_steps", 2, "--logging_steps", 1, "--resume")
    assert f"resuming from {tmp_path / 'checkpoint-2'}" in resumed
    state = json.loads((tmp_path / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert [entry["step"] for entry in state["log_history"] if "loss" in entry] == [1, 2, 3, 4]


@pytest.mark.slow
def test_merged_model_computes_what_the_base_and_adapter_compute(tiny_model_dir, sft_adapter_dir, tmp_path):
    import subprocess
    import sys

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    merged_dir = tmp_path / "merged"
    command = [
        sys.executable,
        "training/merge_adapter.py",
        "--adapter",
        str(sft_adapter_dir),
        "--out",
        str(merged_dir),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (merged_dir / "tokenizer.json").is_file() and not (merged_dir / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), sft_adapter_dir)
    tokens = torch.arange(3, 40).unsqueeze(0)
    with torch.no_grad():
        assert torch.allclose(merged(tokens).logits, adapted(tokens).logits, atol=1e-4)
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        assert not torch.allclose(base(tokens).logits, adapted(tokens).logits, atol=1e-4)
