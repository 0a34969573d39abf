"""The eval config: one model under test, the fixed opponents it meets in both roles, and the paired scenarios.

Config (YAML, `${VAR:-default}` expanded, so slurm array jobs set HAGGLE_SEED and HAGGLE_MODEL; see configs/eval/):
    seed: ${HAGGLE_SEED:-0}
    episodes: 50                 # scenarios per opponent and role: the SAME scenarios for every model (paired)
    concurrency: 8               # negotiations in flight
    max_attempts: 3              # tries of an episode whose agent failed
    bootstrap_resamples: 2000    # for the surplus-share and efficiency intervals
    rules: {max_violations: 3}   # env.negotiation.ProtocolRules
    scenarios: {...}             # env.scenario.SamplerConfig
    model: {...}                 # data.agent_specs.AgentSpec: the model under test
    opponents: [...]             # data.agent_specs.AgentSpec: the fixed opponents
    x-anything: ...              # ignored: a place for YAML anchors
Scenario i depends on (scenarios, seed, i) alone, exactly as in `haggle simulate`, so a larger `episodes` extends
the same sample, and two models evaluated with the same config played identical deals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from haggle.data.agent_specs import AgentSpec
from haggle.env.agents import create_agent
from haggle.env.config_loading import build, load_yaml
from haggle.env.negotiation import ProtocolRules
from haggle.env.scenario import SamplerConfig, ScenarioSampler

_COUNTS = ("episodes", "concurrency", "max_attempts", "bootstrap_resamples")


@dataclass
class EvalConfig:
    model: AgentSpec
    opponents: list[AgentSpec]
    scenarios: SamplerConfig = field(default_factory=SamplerConfig)
    rules: ProtocolRules = field(default_factory=ProtocolRules)
    seed: int = 0
    episodes: int = 50
    concurrency: int = 8
    max_attempts: int = 3
    bootstrap_resamples: int = 2000

    def __post_init__(self) -> None:
        for name in _COUNTS:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not self.opponents:
            raise ValueError("the config lists no `opponents` for the model to meet")
        names = [self.model.name] + [opponent.name for opponent in self.opponents]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(
                f"the model and its opponents need distinct names; repeated: {repeated} "
                "(to test a strategy against itself, name the model e.g. `{name: model, strategy: boulware}`)"
            )
        for spec in (self.model, *self.opponents):
            if spec.kind == "scripted":  # an unknown strategy fails here, before any episode is planned
                create_agent(spec.strategy or spec.name, role="buyer", **spec.params)
        ScenarioSampler(self.scenarios)  # unknown domains and tiers fail here too

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> EvalConfig:
        mapping = {key: value for key, value in mapping.items() if not str(key).startswith("x-")}
        if not mapping:
            raise ValueError("the config is empty; see configs/eval/scripted.yaml for one that works")
        if not mapping.get("model"):
            raise ValueError("the config has no `model:` (the AgentSpec of the model under test)")
        return build(cls, mapping, what="eval setting")

    @classmethod
    def from_yaml(cls, path: str | Path) -> EvalConfig:
        return cls.from_mapping(load_yaml(path))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["model"] = self.model.to_dict()
        data["opponents"] = [spec.to_dict() for spec in self.opponents]
        return data

    def with_model(self, path: str | None = None, adapter: str | None = None) -> EvalConfig:
        """The config with the command line's model path or LoRA adapter in place of the YAML's."""
        if path is None and adapter is None:
            return self
        model = self.model
        if model.kind == "scripted":
            raise ValueError(
                f"--model-path/--adapter need an LLM model, but the config's model {model.name!r} is scripted"
            )
        if adapter is not None and model.kind == "openai":
            raise ValueError(
                "--adapter loads a LoRA adapter locally; for an endpoint, serve the adapter "
                "(vllm serve --enable-lora --lora-modules NAME=DIR) and pass its NAME as --model-path"
            )
        params = dict(model.params)
        params.update({"model": path} if path is not None else {})
        params.update({"adapter": adapter} if adapter is not None else {})
        return replace(
            self, model=AgentSpec(name=model.name, kind=model.kind, strategy=model.strategy, params=params)
        )


def check_local_files(spec: AgentSpec) -> None:
    """A local model or adapter that is not there would fail every episode: say so before playing any.

    An `hf` model may also be a hub id already in the local cache (nothing is downloaded at run time)."""
    adapter = spec.params.get("adapter")
    if adapter and spec.kind in ("hf", "vllm") and not Path(adapter).is_dir():
        raise ValueError(f"model {spec.name!r}: adapter directory {adapter} not found")
    model = str(spec.params.get("model", ""))
    if spec.kind == "hf" and not Path(model).is_dir() and not _in_hub_cache(model):
        raise ValueError(
            f"model {spec.name!r}: {model} is neither a local directory nor a model in the Hugging Face cache; "
            "pass --model-path DIR (build the CPU test model with `haggle tiny-model --out runs/tiny-model`)"
        )


def _in_hub_cache(model: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
        from huggingface_hub.errors import HFValidationError
    except ImportError:
        return False
    try:
        return isinstance(try_to_load_from_cache(model, "config.json"), str)
    except HFValidationError:
        return False
