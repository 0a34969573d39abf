"""A local Hugging Face model through transformers (optionally with a LoRA adapter): the CPU default and the tests.

The chat is rendered by the tokenizer's own chat template with the tool schemas, exactly as SFT renders the
traces; the model writes its tool call in text (Qwen3: `<tool_call>{...}</tool_call>`), which `tool_parsing`
reads. Concurrent requests are generated together as one left-padded batch on a worker thread. torch and
transformers are imported when the first request arrives, never at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haggle.data.backends.base import Completion
from haggle.data.backends.batching import BatchedLocalModel, ChatRequest, render_prompts
from haggle.env.config_loading import build, refuse_unknown

_SAMPLING = {"temperature", "top_p", "top_k", "min_p", "max_new_tokens", "repetition_penalty"}


@dataclass
class HFConfig:
    model: str  # a local directory or hub id already in the cache (nothing is downloaded at run time)
    adapter: str | None = None  # a PEFT adapter directory (e.g. the output of training/sft.py)
    tokenizer: str | None = None  # default: the adapter directory if it holds one, else the model
    sampling: dict[str, Any] = field(default_factory=lambda: {"temperature": 0.7, "top_p": 0.95})
    thinking: bool | None = None  # passed to the chat template as enable_thinking
    device: str = "auto"  # auto = cuda when available, else cpu
    dtype: str = "auto"  # auto = bfloat16 on cuda, float32 on cpu
    max_new_tokens: int = 512
    max_batch_size: int = 8

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> HFConfig:
        config = build(cls, params, what="hf parameter")
        refuse_unknown(
            config.sampling, _SAMPLING, what="sampling parameter for a local model", where="sampling"
        )
        return config


class HFLocalModel(BatchedLocalModel):
    def __init__(self, config: HFConfig) -> None:
        self.config = config
        super().__init__(config.max_batch_size, name=f"hf:{config.model}")
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        config = self.config
        device = (
            config.device if config.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        )
        dtype = getattr(torch, config.dtype) if config.dtype != "auto" else None
        if dtype is None:
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        tokenizer_path = config.tokenizer or config.model
        if (
            config.tokenizer is None
            and config.adapter
            and (Path(config.adapter) / "tokenizer_config.json").is_file()
        ):
            tokenizer_path = config.adapter
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model: Any = AutoModelForCausalLM.from_pretrained(config.model, dtype=dtype)  # stubs mistype `.to`
        model = model.to(device)
        if config.adapter:
            from peft import PeftModel

            # merged once at load: unmerged LoRA layers make generation 1.2-1.5x slower (bench_adapter_merge.py)
            model = PeftModel.from_pretrained(model, config.adapter).merge_and_unload()
        model.eval()
        self._model, self._tokenizer = model, tokenizer

    def _stop_ids(self) -> set[int]:
        eos = self._model.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        ids |= {self._tokenizer.eos_token_id, self._tokenizer.pad_token_id}
        return {token for token in ids if token is not None}

    def generate_batch(self, requests: list[ChatRequest]) -> list[Completion]:
        import torch
        from haggle.data.backends.row_sampling import WARPERS, SeededRowSampler, sampling_settings
        from transformers import LogitsProcessorList

        if self._model is None:
            self._load()
        tokenizer, model, config = self._tokenizer, self._model, self.config
        prompts = render_prompts(tokenizer, requests, config.thinking)
        batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            model.device
        )
        sampling = {"max_new_tokens": config.max_new_tokens, **config.sampling}
        settings = sampling_settings(model.generation_config, sampling)
        for name in WARPERS:  # applied per row below, or not at all (greedy)
            sampling[name] = None
        processors = []
        if settings.get("temperature", 1.0) > 0:  # each row its own seeded draw, whatever shares its batch
            processors.append(SeededRowSampler([request.seed for request in requests], settings))
        with torch.no_grad():
            output = model.generate(
                **batch,
                pad_token_id=tokenizer.pad_token_id,
                do_sample=False,
                logits_processor=LogitsProcessorList(processors),
                **sampling,
            )
        prompt_length, stop = batch["input_ids"].shape[1], self._stop_ids()
        completions = []
        for row, request_mask in zip(output, batch["attention_mask"], strict=True):
            generated = row[prompt_length:].tolist()
            end = next((i for i, token in enumerate(generated) if token in stop), len(generated))
            text = tokenizer.decode(generated[:end], skip_special_tokens=False)
            usage = {"prompt_tokens": int(request_mask.sum()), "completion_tokens": end}
            completions.append(Completion(text, usage=usage))
        return completions
