"""A `kind: hf` agent with a LoRA adapter serves it merged into the weights, which is faster
(benchmarks/bench_adapter_merge.py); merging must change the speed, not what the model says."""

import pytest
import torch
from haggle.data.backends.batching import ChatRequest, render_prompts
from haggle.data.backends.hf_local import HFConfig, HFLocalModel
from haggle.env.actions import tool_schemas
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from haggle.testing.greedy import greedy_generate

NEW_TOKENS = 16
CHATS = [
    [
        {"role": "system", "content": "You are selling a bike. Your reservation price is 80."},
        {"role": "user", "content": "The buyer offers 60. Make your move."},
    ],
    [{"role": "system", "content": "You are buying a laptop."}, {"role": "user", "content": "Your move."}],
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One thread: on cores other jobs are using, torch's threads spin-wait on each other and this test's few
    hundred milliseconds of generation take tens of seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir, tmp_path_factory):
    """A small LoRA adapter on every linear module, lora_B random (PEFT zeroes it by default) so that it
    changes what the model says."""
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        task_type="CAUSAL_LM",
        init_lora_weights=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir), config)
    out = tmp_path_factory.mktemp("adapter")
    model.save_pretrained(str(out))
    return out


def served(params):
    """Texts of one batch of the chats from the hf backend built from an agent spec's params, and its model."""
    backend = HFLocalModel(
        HFConfig.from_params(
            params | {"device": "cpu", "max_new_tokens": NEW_TOKENS, "sampling": {"temperature": 0}}
        )
    )
    requests = [ChatRequest(chat, tool_schemas(), seed=index) for index, chat in enumerate(CHATS)]
    return [completion.text for completion in backend.generate_batch(requests)], backend._model


def unmerged_peft_texts(model_dir, adapter):
    """What the unmerged PeftModel generates greedily for the same batch, cut at the first stop token."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), str(adapter)).eval()
    requests = [ChatRequest(chat, tool_schemas(), seed=0) for chat in CHATS]
    batch = tokenizer(
        render_prompts(tokenizer, requests, None), return_tensors="pt", padding=True, add_special_tokens=False
    )
    output = greedy_generate(model, batch, NEW_TOKENS, tokenizer.pad_token_id)
    stop = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    texts = []
    for row in output[:, batch["input_ids"].shape[1] :].tolist():
        end = next((i for i, token in enumerate(row) if token in stop), len(row))
        texts.append(tokenizer.decode(row[:end], skip_special_tokens=False))
    return texts


def test_the_hf_backend_says_with_a_merged_adapter_exactly_what_the_unmerged_peft_model_says(
    tiny_model_dir, adapter_dir
):
    texts, model = served({"model": str(tiny_model_dir), "adapter": str(adapter_dir)})
    assert texts == unmerged_peft_texts(tiny_model_dir, adapter_dir)
    assert not any("lora" in name for name, _ in model.named_modules()), "the adapter is served unmerged"
    base_texts, _ = served({"model": str(tiny_model_dir)})
    assert texts != base_texts and all(texts), "the adapter must change what the model says"
