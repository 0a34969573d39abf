"""vLLM's offline engine (`vllm.LLM`) for fast local rollouts on a GPU: an optional extra, imported lazily.

Install with `pip install -e .[vllm]`. Prompts are rendered by the model's own chat template with the tool schemas
(as in `hf_local` and in SFT), generated in batches with per-request seeds, and parsed by `tool_parsing`.
A LoRA adapter (e.g. an SFT output) is served with `enable_lora`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from haggle.data.backends.base import Completion
from haggle.data.backends.batching import BatchedLocalModel, ChatRequest, render_prompts
from haggle.env.config_loading import build, refuse_unknown

_SAMPLING = {"temperature", "top_p", "top_k", "min_p", "max_tokens", "repetition_penalty", "presence_penalty"}


@dataclass
class VLLMConfig:
    model: str
    adapter: str | None = None
    sampling: dict[str, Any] = field(
        default_factory=lambda: {"temperature": 0.7, "top_p": 0.95, "max_tokens": 512}
    )
    thinking: bool | None = None
    engine: dict[str, Any] = field(
        default_factory=dict
    )  # keyword arguments of vllm.LLM (gpu_memory_utilization…)
    max_batch_size: int = 256

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> VLLMConfig:
        config = build(cls, params, what="vllm parameter")
        refuse_unknown(config.sampling, _SAMPLING, what="sampling parameter for vLLM", where="sampling")
        return config


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as error:
        raise ImportError(
            "agents of kind 'vllm' need vLLM: pip install -e '.[vllm]' (GPU only), or use kind 'hf' or 'openai'"
        ) from error
    return vllm


class VLLMOffline(BatchedLocalModel):
    def __init__(self, config: VLLMConfig) -> None:
        _import_vllm()  # fail when the agent is built, not at its first move
        self.config = config
        super().__init__(config.max_batch_size, name=f"vllm:{config.model}")
        self._llm: Any = None
        self._lora: Any = None

    def _load(self) -> None:
        vllm = _import_vllm()
        engine = dict(self.config.engine)
        if self.config.adapter:
            from vllm.lora.request import LoRARequest

            engine.setdefault("enable_lora", True)
            self._lora = LoRARequest("adapter", 1, self.config.adapter)
        self._llm = vllm.LLM(model=self.config.model, **engine)

    def generate_batch(self, requests: list[ChatRequest]) -> list[Completion]:
        vllm = _import_vllm()
        if self._llm is None:
            self._load()
        tokenizer = self._llm.get_tokenizer()
        prompts = render_prompts(tokenizer, requests, self.config.thinking)
        sampling = [vllm.SamplingParams(seed=request.seed, **self.config.sampling) for request in requests]
        outputs = self._llm.generate(prompts, sampling, use_tqdm=False, lora_request=self._lora)
        return [
            Completion(
                output.outputs[0].text,
                usage={
                    "prompt_tokens": len(output.prompt_token_ids or []),
                    "completion_tokens": len(output.outputs[0].token_ids),
                },
            )
            for output in outputs
        ]
