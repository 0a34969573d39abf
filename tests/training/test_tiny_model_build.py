"""The tiny Qwen3: it loads, tokenizes, renders and generates like Qwen/Qwen3-8B, builds reproducibly and
atomically, and TRL's SFTTrainer trains it with assistant-only loss."""

import json
import shutil
import unicodedata

import pytest
from haggle.env.actions import tool_schemas
from haggle.training import tiny_model
from haggle.training.tiny_model import QWEN3_ADDED_TOKENS, STAMP_NAME, build_tiny_model
from hypothesis import given, settings
from hypothesis import strategies as st

from haggle.cli import main

CONVERSATION = [
    {"role": "system", "content": "You are the seller. Your private cost is $800.00."},
    {"role": "user", "content": "The buyer offered $650.00. Round 2 of 10. It is your turn: call one tool."},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_0",
                "type": "function",
                "function": {"name": "make_offer", "arguments": {"price": 1234.5, "message": "Café? Ça va."}},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_0", "name": "make_offer", "content": "The buyer offered $990.00."},
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_loads_with_the_auto_classes_as_a_small_tied_float32_qwen3(tiny_model_dir, tokenizer):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert type(model).__name__ == "Qwen3ForCausalLM" and type(tokenizer).__name__ == "Qwen2Tokenizer"
    assert model.dtype == torch.float32 and model.config.vocab_size == len(tokenizer) >= 2000
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert model.generation_config.eos_token_id == [tokenizer.eos_token_id, tokenizer.pad_token_id]
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id
    assert sum(path.stat().st_size for path in tiny_model_dir.iterdir()) < 5_000_000


def test_added_tokens_are_qwen3s_single_ids_in_qwen3s_order_with_qwen3s_flags(tokenizer):
    ids = [tokenizer.convert_tokens_to_ids(content) for content, _ in QWEN3_ADDED_TOKENS]
    assert ids == list(range(len(tokenizer) - len(QWEN3_ADDED_TOKENS), len(tokenizer)))
    for content, token_id in zip([c for c, _ in QWEN3_ADDED_TOKENS], ids, strict=True):
        assert tokenizer.encode(f"x{content}y", add_special_tokens=False)[1] == token_id
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.bos_token) == (
        "<|im_end|>",
        "<|endoftext|>",
        None,
    )
    text = "<|im_start|>assistant\n<think>\n\n</think>\n\n<tool_call>\n{}\n</tool_call><|im_end|>"
    assert tokenizer.decode(tokenizer.encode(text), skip_special_tokens=True) == (
        "assistant\n<think>\n\n</think>\n\n<tool_call>\n{}\n</tool_call>"  # Qwen3 keeps these: not special
    )


@pytest.mark.parametrize(
    "text",
    [
        "I'll pay $1,234.50 (incl. 19% VAT) — or €1.099,00?",
        '{"name": "make_offer", "arguments": {"price": 1234.5, "message": "Deal?"}}',
        "这个价格太高了，800元可以吗？ 🤝🚲\n\n\t  trailing spaces   ",
        "0.01 1e-7 100000000 -42 3.14159265358979",
    ],
)
def test_known_text_round_trips_exactly(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_any_nfc_text_round_trips_exactly(tokenizer, text):
    """Qwen3 normalises to NFC first, so NFC text is what comes back unchanged."""
    text = unicodedata.normalize("NFC", text)
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


def test_digits_are_one_token_each_and_negotiation_text_is_compact(tokenizer):
    assert tokenizer.tokenize("1234567") == list("1234567")
    rendered = tokenizer.apply_chat_template(CONVERSATION, tools=tool_schemas(), tokenize=False)
    assert len(tokenizer.encode(rendered)) < len(rendered) / 3  # it learned the prompts and the tool schemas


def test_chat_template_is_qwen3s_so_trl_swaps_in_its_training_variant_and_parses_calls(tokenizer):
    from trl.chat_template_utils import (
        add_response_schema,
        get_training_chat_template,
        qwen3_chat_template,
        qwen3_training_chat_template,
    )

    assert tokenizer.chat_template == qwen3_chat_template
    assert get_training_chat_template(tokenizer) == qwen3_training_chat_template
    reply = '<tool_call>\n{"name": "make_offer", "arguments": {"price": 12.5}}\n</tool_call><|im_end|>'
    parsed = add_response_schema(tokenizer).parse_response(reply, prefix="")
    assert parsed["tool_calls"] == [
        {"type": "function", "function": {"name": "make_offer", "arguments": {"price": 12.5}}}
    ]


def test_chat_template_renders_tools_tool_calls_and_tool_replies(tokenizer):
    text = tokenizer.apply_chat_template(CONVERSATION, tools=tool_schemas(), tokenize=False)
    system = text.split("<|im_end|>")[0]
    assert system.startswith("<|im_start|>system\nYou are the seller.") and "# Tools" in system
    assert all(json.dumps(schema, ensure_ascii=False) in system for schema in tool_schemas())
    call = '{"name": "make_offer", "arguments": {"price": 1234.5, "message": "Café? Ça va."}}'
    assert f"<|im_start|>assistant\n<tool_call>\n{call}\n</tool_call><|im_end|>\n" in text
    assert text.endswith(
        "<|im_start|>user\n<tool_response>\nThe buyer offered $990.00.\n</tool_response><|im_end|>\n"
    )


def test_enable_thinking_false_closes_an_empty_think_block_true_leaves_it_to_the_model(tokenizer):
    def prompt(**kwargs):
        return tokenizer.apply_chat_template(
            CONVERSATION, tools=tool_schemas(), tokenize=False, add_generation_prompt=True, **kwargs
        )

    assert prompt(enable_thinking=False).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert prompt(enable_thinking=True).endswith("</tool_response><|im_end|>\n<|im_start|>assistant\n")
    assert prompt() == prompt(enable_thinking=True)  # Qwen3 thinks unless told not to


def test_generate_runs_from_a_chat_prompt(tiny_model_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    inputs = tokenizer.apply_chat_template(
        CONVERSATION, tools=tool_schemas(), add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )
    output = model.generate(**inputs, max_new_tokens=12, min_new_tokens=12, do_sample=False)
    assert output.shape == (1, inputs["input_ids"].shape[1] + 12)
    assert isinstance(tokenizer.decode(output[0, inputs["input_ids"].shape[1] :]), str)


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def test_same_seed_same_model_other_seed_other_weights_same_tokenizer(tiny_model_dir, tmp_path):
    again, other = build_tiny_model(tmp_path / "again", seed=0), build_tiny_model(tmp_path / "other", seed=1)
    first, second, third = _weights(tiny_model_dir), _weights(again), _weights(other)
    assert first.keys() == second.keys() == third.keys()
    assert all(first[name].equal(second[name]) for name in first)
    assert not first["model.embed_tokens.weight"].equal(third["model.embed_tokens.weight"])
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json"):
        assert (
            (tiny_model_dir / name).read_bytes() == (again / name).read_bytes() == (other / name).read_bytes()
        )


def test_a_complete_build_is_reused_and_a_stale_one_rebuilt(tiny_model_dir, tmp_path):
    out = tmp_path / "model"
    shutil.copytree(tiny_model_dir, out)
    written = (out / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_model(out, seed=0) == out
    assert (out / "model.safetensors").stat().st_mtime_ns == written
    build_tiny_model(out, seed=3)
    assert json.loads((out / STAMP_NAME).read_text())["seed"] == 3
    assert (out / "model.safetensors").read_bytes() != (tiny_model_dir / "model.safetensors").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging or old copies left behind


def test_a_failed_build_leaves_no_half_model_and_keeps_what_was_there(tiny_model_dir, tmp_path, monkeypatch):
    def fail(*_args):
        raise KeyboardInterrupt  # as if killed after the tokenizer was written

    monkeypatch.setattr(tiny_model, "write_model", fail)
    with pytest.raises(KeyboardInterrupt):
        build_tiny_model(tmp_path / "fresh", seed=0)
    assert list(tmp_path.iterdir()) == []
    kept = tmp_path / "kept"
    shutil.copytree(tiny_model_dir, kept)
    with pytest.raises(KeyboardInterrupt):
        build_tiny_model(kept, seed=0, force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["kept"]
    assert (kept / "model.safetensors").read_bytes() == (tiny_model_dir / "model.safetensors").read_bytes()


def test_a_directory_holding_something_else_is_replaced_only_when_forced(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--force"):
        build_tiny_model(tmp_path, seed=0)
    assert build_tiny_model(tmp_path, seed=0, force=True) == tmp_path
    assert not (tmp_path / "notes.txt").exists() and (tmp_path / "model.safetensors").is_file()


def test_cli_builds_then_reuses_and_says_where(refused, tmp_path, capsys):
    out = tmp_path / "tiny"
    assert main(["tiny-model", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"in {out}")
    assert main(["tiny-model", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["path"] == str(out) and report["reused"] is True and report["seed"] == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "weights.bin").write_bytes(b"x")
    refused(["tiny-model", "--out", str(tmp_path / "other")], match="--force")


@pytest.mark.slow
def test_sft_trainer_takes_it_with_assistant_only_loss_and_lora(tiny_model_dir, tmp_path):
    """The SFT stage's set-up on two conversations with tools: TRL swaps in Qwen3's training template, the
    loss covers the assistant's tool calls and turn ends only, and one LoRA step moves the adapter."""
    import datasets
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    second = [*CONVERSATION[:2], {**CONVERSATION[2], "tool_calls": [{**CONVERSATION[2]["tool_calls"][0]}]}]
    second[2]["tool_calls"][0]["function"] = {
        "name": "make_offer",
        "arguments": {"price": 990.0, "message": "Ok"},
    }
    tools = json.dumps(tool_schemas())
    dataset = datasets.Dataset.from_list(
        [{"messages": CONVERSATION, "tools": tools}, {"messages": second, "tools": tools}]
    )
    args = SFTConfig(
        output_dir=str(tmp_path),
        assistant_only_loss=True,
        max_steps=1,
        per_device_train_batch_size=2,
        learning_rate=1e-2,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
    )
    trainer = SFTTrainer(
        model=str(tiny_model_dir),
        args=args,
        train_dataset=dataset,
        peft_config=LoraConfig(r=4, target_modules=["q_proj", "v_proj"]),
    )
    example = trainer.train_dataset[0]
    trained = trainer.processing_class.decode(
        [token for token, label in zip(example["input_ids"], example["labels"], strict=True) if label != -100]
    )
    assert trained.startswith("<think>\n\n</think>\n\n<tool_call>\n") and "<|im_end|>" in trained
    assert "price" in trained and "<tool_response>" not in trained and "private cost" not in trained
    assert trainer.train().global_step == 1
    lora_b = [p for name, p in trainer.model.named_parameters() if "lora_B" in name]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)
