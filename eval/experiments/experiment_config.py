"""Experiment presets: one YAML file fixes scenarios, negotiators, conditions and mechanism baselines.

Every model plays itself (buyer and seller are the same model, as in the studies these presets rerun) on the same
scenario seeds in every condition, so models and conditions are compared on paired deals. A preset's `variants:`
block holds named overrides (e.g. `tiny`, which swaps in the tiny local model and a handful of episodes), merged
over the file's top level: mappings merge key by key, everything else is replaced.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haggle.data.agent_specs import AgentSpec
from haggle.env.actions import DEFAULT_ACTIONS, DISCLOSE_VALUE
from haggle.env.config_loading import build, load_yaml, refuse_unknown
from haggle.env.negotiation import ProtocolRules
from haggle.env.scenario import ROLES, SamplerConfig
from haggle.eval.experiments.disclosure import DISCLOSURE_PROMPT
from haggle.eval.experiments.mechanisms import MechanismSpec

CONFIG_VERSION = 1
# The AgentSpec parameter through which LLM agents receive role-specific instructions (framing, disclosure).
INSTRUCTIONS_PARAM = "system_prompt_suffix"


@dataclass(frozen=True)
class Condition:
    """One arm of an experiment. LLM agents get `instructions[role]` appended to their system prompt; scripted
    agents, which read no prompt, get `scripted_params[role]` merged into their strategy parameters instead (a
    declared stand-in for the framing, not a claim that a model would react that way)."""

    name: str
    description: str = ""
    instructions: dict[str, str] = field(default_factory=dict)
    scripted_params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for mapping in (self.instructions, self.scripted_params):
            refuse_unknown(mapping, ROLES, what="role", where=f"condition {self.name!r}")


@dataclass(frozen=True)
class DisclosurePhase:
    """Turns on the one-shot disclosure question (each side's first turn, with `disclose_value` allowed)."""

    prompt: str = DISCLOSURE_PROMPT  # what LLM agents are told; scripted disclosure strategies need no prompt
    truthful_tolerance: float = 0.01  # a stated value within this relative distance of the truth is truthful


@dataclass
class ExperimentConfig:
    name: str
    scenarios: SamplerConfig
    models: list[AgentSpec]
    description: str = ""
    episodes: int = 60  # scenarios per model and condition (the same seeds for all)
    seed: int = 0
    conditions: list[Condition] = field(default_factory=lambda: [Condition("symmetric")])
    mechanisms: list[MechanismSpec] = field(default_factory=list)
    disclosure: DisclosurePhase | None = None
    baseline: str | None = None  # a mechanism row every model is tested against (the hotel's posted price)
    concurrency: int = 4

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError("episodes must be at least 1")
        if not self.models and not self.mechanisms:
            raise ValueError(f"experiment {self.name!r} has no models and no mechanisms to run")
        names = [spec.name for spec in self.models] + [spec.name for spec in self.mechanisms]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"experiment {self.name!r}: row names must be unique, repeated: {duplicates}")
        conditions = [condition.name for condition in self.conditions]
        if not conditions or len(set(conditions)) != len(conditions):
            raise ValueError(f"experiment {self.name!r}: conditions need unique names")
        if self.baseline is not None and self.baseline not in [spec.name for spec in self.mechanisms]:
            raise ValueError(f"baseline {self.baseline!r} must name one of the experiment's mechanisms")

    @property
    def reference_condition(self) -> str:
        """The arm other conditions are compared with (the symmetric run): the first one listed."""
        return self.conditions[0].name

    @property
    def rules(self) -> ProtocolRules:
        actions = (*DEFAULT_ACTIONS, DISCLOSE_VALUE) if self.disclosure else DEFAULT_ACTIONS
        return ProtocolRules(actions=actions)

    def agent_spec(self, model: AgentSpec, condition: Condition, role: str) -> AgentSpec:
        """The spec one side plays under `condition`: framing and disclosure reach it through its params."""
        params = dict(model.params)
        if model.kind == "scripted":
            params |= condition.scripted_params.get(role, {})
        else:
            extra = [self.disclosure.prompt if self.disclosure else "", condition.instructions.get(role, "")]
            text = "\n".join(part for part in (params.get(INSTRUCTIONS_PARAM, ""), *extra) if part)
            if text:
                params[INSTRUCTIONS_PARAM] = text
        return AgentSpec(name=model.name, kind=model.kind, strategy=model.strategy, params=params)

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> ExperimentConfig:
        mapping = dict(mapping)
        version = mapping.pop("version", CONFIG_VERSION)
        if version != CONFIG_VERSION:
            raise ValueError(
                f"experiment config version {version} is not supported (expected {CONFIG_VERSION})"
            )
        mapping.pop("variants", None)
        if "name" not in mapping or "scenarios" not in mapping:
            raise ValueError("an experiment needs a `name` and a `scenarios:` block")
        if mapping.get("disclosure") is True:  # `disclosure: true` turns the phase on with its defaults
            mapping["disclosure"] = {}
        elif mapping.get("disclosure") is False:
            mapping["disclosure"] = None
        return build(cls, mapping, what="experiment setting")


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over `base`: mappings merge key by key, lists and scalars are replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve_mapping(raw: dict[str, Any], variant: str | None = None) -> dict[str, Any]:
    """The preset's top level with `variant` applied (and the `variants:` block dropped)."""
    variants = raw.get("variants") or {}
    if variant is not None and variant not in variants:
        raise ValueError(f"unknown variant {variant!r}; this preset has: {', '.join(variants) or 'none'}")
    resolved = merge({k: v for k, v in raw.items() if k != "variants"}, variants[variant] if variant else {})
    return resolved | {"version": raw.get("version", CONFIG_VERSION)}


def load_experiment(path: str | Path, variant: str | None = None) -> tuple[ExperimentConfig, dict[str, Any]]:
    """The parsed preset and the resolved mapping it came from (stored in the run directory for the report)."""
    resolved = resolve_mapping(load_yaml(path), variant)
    return ExperimentConfig.from_mapping(resolved), resolved
