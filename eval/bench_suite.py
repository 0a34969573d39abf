"""Haggle Bench suites: a frozen, versioned eval (scenarios and seed, opponents with every parameter, protocol rules,
metric definitions) and its manifest, whose content hash every card carries, so two cards are comparable exactly
when their hashes are equal.

Suite YAML (the built-in ones: configs/bench/VERSION.yaml; strict keys):
    version: v1                  # a changed suite is a new version: tests pin each version's hash
    metrics_version: "1"         # bumped when a metric's definition in the card changes
    negmas: "0.16.0"             # only in suites with NegMAS opponents: the exact NegMAS version they were frozen on
    seed / episodes / bootstrap_resamples / rules / scenarios / opponents   # as in an eval config
    references: [boulware, ...]  # scripted strategies whose rows every leaderboard of this suite shows

The manifest hashes the suite with PROMPT_VERSION, the eval schema and the rendered texts an LLM reads (every
scenario's system prompt and opening message for both roles, the tool schemas, the ignored-calls note), so a reworded
prompt changes the hash even where PROMPT_VERSION was not bumped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from haggle.data.agent_specs import AgentSpec
from haggle.data.negmas_agent import NEGMAS_EXTRA, negmas_version
from haggle.env import prompts
from haggle.env.actions import tool_schemas
from haggle.env.config_loading import build, load_yaml
from haggle.env.negotiation import Negotiation, ProtocolRules
from haggle.env.scenario import ROLES, SamplerConfig, Scenario, ScenarioSampler
from haggle.eval.eval_config import EvalConfig
from haggle.eval.eval_report import EVAL_SCHEMA

MANIFEST_SCHEMA = "haggle.bench_manifest/1"


@dataclass
class BenchSuite:
    version: str
    metrics_version: str
    opponents: list[AgentSpec]
    references: list[str]
    scenarios: SamplerConfig = field(default_factory=SamplerConfig)
    rules: ProtocolRules = field(default_factory=ProtocolRules)
    seed: int = 0
    episodes: int = 20
    bootstrap_resamples: int = 1000
    negmas: str | None = None  # the NegMAS version a suite with NegMAS opponents is frozen on

    def __post_init__(self) -> None:
        uses_negmas = any(spec.strategy == "negmas" for spec in self.opponents)
        if uses_negmas and self.negmas is None:
            raise ValueError(f"suite {self.version}: NegMAS opponents need `negmas: VERSION` in the suite")
        if self.negmas is not None and not uses_negmas:
            raise ValueError(f"suite {self.version}: `negmas:` is set but no opponent uses strategy negmas")
        if not self.references:
            raise ValueError(f"suite {self.version}: list the scripted `references` every leaderboard shows")

    @classmethod
    def load(cls, path: str | Path) -> BenchSuite:
        """A suite YAML (the command line finds the built-in ones by version: `--suite v1`)."""
        return build(cls, load_yaml(path), what="bench suite setting")

    def check_installed(self) -> None:
        """A NegMAS suite runs only on the NegMAS it was frozen on: a core install never claims it."""
        if self.negmas is None:
            return
        installed = negmas_version()
        if installed is None:
            raise ValueError(f"suite {self.version} has NegMAS opponents. {NEGMAS_EXTRA}")
        if installed != self.negmas:
            raise ValueError(
                f"suite {self.version} is frozen on NegMAS {self.negmas}, but {installed} is installed: "
                f"pip install negmas=={self.negmas}"
            )

    def scenario_draws(self) -> list[Scenario]:
        return ScenarioSampler(self.scenarios).sample(self.episodes, self.seed)

    def eval_config(self, model: AgentSpec, concurrency: int = 8, max_attempts: int = 3) -> EvalConfig:
        """The eval this suite is, for one model (concurrency and retries change no result)."""
        return EvalConfig(
            model=model,
            opponents=self.opponents,
            scenarios=self.scenarios,
            rules=self.rules,
            seed=self.seed,
            episodes=self.episodes,
            concurrency=concurrency,
            max_attempts=max_attempts,
            bootstrap_resamples=self.bootstrap_resamples,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"opponents": [spec.to_dict() for spec in self.opponents]}


def rendered_prompts(suite: BenchSuite) -> dict[str, Any]:
    """What an LLM reads at the start of each suite episode, per role, and the tools it may call."""
    texts: list[dict[str, Any]] = []
    for scenario in suite.scenario_draws():
        views = {role: Negotiation(scenario, suite.rules).view(role) for role in ROLES}
        texts += [
            {"role": role, "system": prompts.system_prompt(view), "opening": prompts.opening(view)}
            for role, view in views.items()
        ]
    allowed = Negotiation(suite.scenario_draws()[0], suite.rules).view("buyer").allowed_actions
    return {"episodes": texts, "tools": tool_schemas(allowed), "ignored_calls": prompts.ignored_calls_note(2)}


def content_hash(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def manifest(suite: BenchSuite) -> dict[str, Any]:
    """The suite's manifest: every input of its numbers, and `hash`, the content hash over all of them."""
    content = {
        "schema": MANIFEST_SCHEMA,
        "suite": suite.to_dict(),
        "prompt_version": prompts.PROMPT_VERSION,
        "eval_schema": EVAL_SCHEMA,
        "prompts_sha256": content_hash(rendered_prompts(suite)),
    }
    return content | {"hash": content_hash(content)}
