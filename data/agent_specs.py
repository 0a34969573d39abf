"""Agents as configs name them: a scripted strategy or an LLM behind a backend, and the one function that builds them.

    agents:
      - {name: boulware}                                   # scripted, strategy = name
      - {name: tough, strategy: hardliner, params: {margin: 0.4}}
      - name: gpt-5
        kind: openai
        params: {preset: openrouter, model: openai/gpt-5, sampling: {max_tokens: 4096}}
      - name: qwen3-8b-sft
        kind: hf
        params: {model: Qwen/Qwen3-8B, adapter: runs/sft/qwen3-8b, thinking: false}

LLM params shared by every backend: `model`, `sampling`, `thinking`, `retry` (see `RetryPolicy`),
`max_concurrency` and `system_prompt_suffix` (text appended to the agent's system prompt: the framing and disclosure
instructions of experiments; it changes the player, not the model); the rest belong to the backend (`openai`: preset, base_url, api_key_env, timeout, extra_body,
headers; `hf`: adapter, tokenizer, device, dtype, max_new_tokens, max_batch_size; `vllm`: adapter, engine,
max_batch_size). Keys never appear in a spec: `api_key_env` names the environment variable that holds one. The one
exception is a provider that reads its key from its own header (`headers: {api-key: ${AZURE_KEY}}`): records keep
only that such a header was set (`haggle.data.redaction`).
One backend (client, loaded model) is built per spec and shared by all the agents built from it, and by the
agents of specs that differ only in their `system_prompt_suffix` (one model served under several framings).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import haggle.data.negmas_agent  # noqa: F401  (registers the "negmas" strategy; NegMAS itself loads only when one is built)
from haggle.data.backends.reliability import ReliableBackend, RetryPolicy
from haggle.data.redaction import is_secret_name, redact_params
from haggle.env.agents.base import Agent, create_agent
from haggle.env.config_loading import build
from haggle.env.scenario import Role

AgentKind = Literal["scripted", "openai", "hf", "vllm"]
AGENT_KINDS: tuple[str, ...] = ("scripted", "openai", "hf", "vllm")

# Where a model is served and how patiently: changing these must not change which episodes count as done.
OPERATIONAL_PARAMS = frozenset(
    {
        "base_url",
        "api_key_env",
        "preset",
        "timeout",
        "retry",
        "max_concurrency",
        "headers",
        "device",
        "max_batch_size",
        "engine",
    }
)
# What the agent is told, not how the model is served: kept in a spec's identity, kept out of its backend.
PROMPT_PARAMS = frozenset({"system_prompt_suffix"})


def _secret_keys(value: Any, path: str = "") -> list[str]:
    """Secret-named keys a spec may not hold: any, except a provider's own key header (`api-key`,
    `x-goog-api-key`, ...); `Authorization` is refused too, since `api_key_env` sends it."""
    if not isinstance(value, dict):
        return []
    found = []
    for key, item in value.items():
        where = f"{path}.{key}" if path else str(key)
        own_key_header = path == "headers" and not str(key).lower().endswith("authorization")
        if is_secret_name(str(key)) and not own_key_header:
            found.append(where)
        found += _secret_keys(item, where)
    return found


@dataclass
class AgentSpec:
    name: str  # unique label in a tournament or an eval
    kind: AgentKind = "scripted"
    strategy: str | None = None  # scripted: the registered strategy (default: name)
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("every agent needs a non-empty `name`")
        if self.kind not in AGENT_KINDS:
            raise ValueError(f"agent {self.name!r}: unknown kind {self.kind!r}; known: {list(AGENT_KINDS)}")
        if self.kind != "scripted" and self.strategy is not None:
            raise ValueError(
                f"agent {self.name!r}: `strategy` is for scripted agents; LLMs take `params.model`"
            )
        if self.kind != "scripted" and not self.params.get("model"):
            raise ValueError(f"agent {self.name!r}: an LLM agent needs `params.model`")
        suffix = self.params.get("system_prompt_suffix")
        if suffix is not None and (self.kind == "scripted" or not isinstance(suffix, str)):
            raise ValueError(
                f"agent {self.name!r}: `system_prompt_suffix` is text appended to an LLM agent's system prompt; "
                "scripted agents read no prompt (give them strategy params instead)"
            )
        secrets = _secret_keys(self.params)
        if secrets:
            raise ValueError(
                f"agent {self.name!r}: {', '.join(secrets)} looks like a secret. Never put a key in a config: "
                "export it and name the variable, e.g. `api_key_env: OPENROUTER_API_KEY`"
            )

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> AgentSpec:
        """Backend settings go under `params`: the keys here are name, kind, strategy and params."""
        return build(cls, mapping, what="agent field")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready and free of secrets: a key header keeps only that it was set, key-shaped text is scrubbed."""
        return asdict(self) | {"params": redact_params(self.params)}

    def identity(self) -> dict[str, Any]:
        """What makes two specs the same player: everything but where and how patiently it is served (and
        which key it is served with)."""
        params = {
            key: value for key, value in redact_params(self.params).items() if key not in OPERATIONAL_PARAMS
        }
        return {"name": self.name, "kind": self.kind, "strategy": self.strategy, "params": params}

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def backend_spec(self) -> AgentSpec:
        """This spec without its prompt params: what its backend (client, loaded model) is built from."""
        params = {key: value for key, value in self.params.items() if key not in PROMPT_PARAMS}
        return AgentSpec(self.name, self.kind, self.strategy, params)


# -- building -------------------------------------------------------------------------------------------------
_BACKENDS: dict[str, ReliableBackend] = {}


def _make_backend(spec: AgentSpec) -> ReliableBackend:
    """`spec` is a backend spec (no prompt params): the backends' own configs refuse keys they do not know."""
    params = dict(spec.params)
    retry = dict(params.pop("retry", None) or {})
    if "max_concurrency" in params:
        retry["max_concurrency"] = params.pop("max_concurrency")
    policy = RetryPolicy.from_mapping(retry)
    if spec.kind == "openai":
        from haggle.data.backends.openai_endpoint import EndpointConfig, OpenAIEndpoint

        backend: Any = OpenAIEndpoint(EndpointConfig.from_params(params))
    elif spec.kind == "hf":
        from haggle.data.backends.hf_local import HFConfig, HFLocalModel

        backend = HFLocalModel(HFConfig.from_params(params))
    else:
        from haggle.data.backends.vllm_offline import VLLMConfig, VLLMOffline

        backend = VLLMOffline(VLLMConfig.from_params(params))
    return ReliableBackend(spec.name, backend, policy, seed=int(spec.fingerprint, 16))


def shared_backend(spec: AgentSpec) -> ReliableBackend:
    """The one backend of `spec` (built on first use): its client or loaded model serves every agent, whatever
    the agent is told (`system_prompt_suffix` is not part of the key)."""
    backend_spec = spec.backend_spec()
    key = json.dumps(asdict(backend_spec), sort_keys=True, default=str)  # with its key headers, unredacted
    if key not in _BACKENDS:
        _BACKENDS[key] = _make_backend(backend_spec)
    return _BACKENDS[key]


async def close_backends() -> None:
    """Close endpoint clients (loaded models stay cached); a later run opens fresh ones."""
    for backend in _BACKENDS.values():
        await backend.aclose()


def build_agent(spec: AgentSpec, role: Role, seed: int) -> Agent:
    if spec.kind == "scripted":
        return create_agent(spec.strategy or spec.name, role=role, seed=seed, **spec.params)
    from haggle.data.llm_agent import LLMAgent

    return LLMAgent(
        role,
        seed,
        name=spec.name,
        backend=shared_backend(spec),
        system_prompt_suffix=spec.params.get("system_prompt_suffix"),
    )
