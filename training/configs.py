"""Configuration dataclasses of the training scripts, parsed by `TrlParser` from YAML plus command-line overrides.

Each script takes TRL's own dataclasses (`SFTConfig`/`GRPOConfig` for the trainer, `ModelConfig` for the model and
LoRA) plus one of these for what is Haggle's: where the data comes from, the negotiation environment, the
opponents and the reward. Fields that hold mappings or lists of them (`scenarios`, `opponents`,
`held_out_opponents`, `chat_template_kwargs`) take YAML in a config file and a JSON string on the command line, as
TRL's own dict fields do.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, cast

import yaml
from haggle.data.agent_specs import AgentSpec
from haggle.data.tool_parsing import MAX_REPLY_CHARS
from haggle.env.agents.base import AGENT_REGISTRY
from haggle.env.config_loading import ConfigError, load_yaml, refuse_unknown
from haggle.env.negotiation import ProtocolRules
from haggle.env.scenario import ROLES
from haggle.training.rewards import RewardShaping
from trl import ScriptArguments, SFTConfig, TrlParser

_SHAPING = RewardShaping()


def _from_json(value: Any, name: str, kind: type, example: str) -> Any:
    """A dict or list field given as YAML (already parsed) or as JSON text on the command line."""
    if value is None:
        return kind()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(f"--{name} must be JSON, e.g. '{example}' ({error})") from None
    if not isinstance(value, kind):
        raise ConfigError(f"{name} must be a {kind.__name__}, e.g. {example}, got {type(value).__name__}")
    return value


def _mapping(value: dict[str, Any] | str | None, name: str) -> dict[str, Any]:
    return cast(dict[str, Any], _from_json(value, name, dict, '{"max_rounds": 4}'))


def _agent_specs(value: list[dict[str, Any]] | str | None, name: str, weighted: bool) -> list[dict[str, Any]]:
    """A list of agent specs (`data.agent_specs`), each with a positive `weight` when `weighted`: checked now, so
    that a misspelt scripted opponent or a bad weight stops the run before the model loads."""
    example = '[{"name": "linear", "weight": 1}]' if weighted else '[{"name": "boulware"}]'
    entries = cast(list[Any], _from_json(value, name, list, example))
    checked = []
    for index, entry in enumerate(entries):
        where = f"{name}[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected an agent spec (a mapping), e.g. {example}, got {entry!r}")
        spec = dict(entry)
        if weighted:
            weight = spec.pop("weight", None)
            if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight < math.inf:
                raise ConfigError(
                    f"{where}: `weight` must be a positive number (the opponent's share of the scenario table), "
                    f"got {'none' if weight is None else repr(weight)}"
                )
            checked.append({**spec, "weight": float(weight)})
        else:
            checked.append(spec)
        try:
            agent = AgentSpec.from_mapping(spec)
        except ValueError as error:
            raise ConfigError(f"{where}: {error}") from None
        if agent.kind == "scripted":
            refuse_unknown(
                [agent.strategy or agent.name], AGENT_REGISTRY, what="scripted opponent", where=where
            )
    names = [spec["name"] for spec in checked]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(
            f"{name}: the names {repeated} appear more than once; give each opponent its own name"
        )
    return checked


def _player(spec: dict[str, Any]) -> str:
    """Who plays, whatever the label: a scripted strategy with its parameters, or an LLM's identity."""
    agent = AgentSpec.from_mapping({key: value for key, value in spec.items() if key != "weight"})
    strategy = agent.strategy or (agent.name if agent.kind == "scripted" else None)
    return json.dumps(agent.identity() | {"name": None, "strategy": strategy}, sort_keys=True, default=str)


@dataclass
class SFTScriptArguments(ScriptArguments):
    """TRL's script arguments (`dataset_name` may also be the directory `haggle traces` wrote) plus `--resume`."""

    resume: bool = field(
        default=False,
        metadata={
            "help": "Resume from the last checkpoint in output_dir if there is one (SLURM requeue uses it)."
        },
    )


@dataclass
class HaggleSFTConfig(SFTConfig):
    """`SFTConfig` plus the chat-template switches GRPO has (`enable_thinking` for Qwen3), applied per example."""

    chat_template_kwargs: dict[str, Any] | str | None = field(
        default=None,
        metadata={"help": "Extra chat template arguments for every example, e.g. {enable_thinking: false}."},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.chat_template_kwargs = _mapping(self.chat_template_kwargs, "chat_template_kwargs")


@dataclass
class GRPOScriptArguments:
    """The negotiation GRPO trains on: scenarios, the fixed opponent, the reward and the starting adapter."""

    scenarios: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "Scenario settings (env.scenario.SamplerConfig fields: tiers, domains, max_rounds...)."
        },
    )
    num_scenarios: int = field(default=1024, metadata={"help": "Rows in the table of training scenarios."})
    table_seed: int = field(
        default=0, metadata={"help": "Seed of the scenario table (scenario and opponent seeds)."}
    )
    roles: list[str] = field(
        default_factory=lambda: list(ROLES), metadata={"help": "Sides the model plays, balanced across rows."}
    )
    tier_names: list[str] | None = field(
        default=None,
        metadata={"help": "Price tiers to train on (tier names); all of the sampler's by default."},
    )
    opponents: list[dict[str, Any]] | str | None = field(
        default=None,
        metadata={
            "help": "The opponents to train against, each an agent spec (data.agent_specs: {name: <scripted "
            "agent>} or an endpoint agent) with a positive `weight`: every scenario row faces one, drawn by weight "
            "from table_seed, e.g. [{name: linear, weight: 1}, {name: conceder, weight: 1}]; linear alone by "
            "default."
        },
    )
    held_out_opponents: list[dict[str, Any]] | str | None = field(
        default=None,
        metadata={
            "help": "Agent specs the run must not train against (refused in `opponents`): the opponents the "
            "learning study and `haggle eval` evaluate the trained model on."
        },
    )
    max_violations: int = field(
        default=ProtocolRules.max_violations, metadata={"help": "Invalid moves before a side forfeits."}
    )
    reward_funcs: list[str] = field(
        default_factory=lambda: ["surplus_share"],
        metadata={"help": "Rewards by name (surplus_share, clipped_surplus) or dotted import path."},
    )
    # the `surplus_share` knobs: defaults and checks are `RewardShaping`'s (training/rewards.py), not repeated here
    no_deal_value: float = field(
        default=_SHAPING.no_deal_value, metadata={"help": "surplus_share: the value of no deal."}
    )
    unfinished_value: float = field(
        default=_SHAPING.unfinished_value,
        metadata={
            "help": "surplus_share: the value of an episode the model left unfinished or forfeited by invalid "
            "moves (below any outcome)."
        },
    )
    truncated_value: float | None = field(
        default=_SHAPING.truncated_value,
        metadata={
            "help": "surplus_share: the value of an episode cut by the token or tool-turn budget while the model "
            "was still playing, below any outcome (unset: not scored, masked)."
        },
    )
    violation_penalty: float = field(
        default=_SHAPING.violation_penalty, metadata={"help": "surplus_share: cost of each invalid move."}
    )
    irrational_deal_penalty: float = field(
        default=_SHAPING.irrational_deal_penalty,
        metadata={"help": "surplus_share: extra cost of a deal at a loss to the trained side."},
    )
    length_penalty: float = field(
        default=_SHAPING.length_penalty,
        metadata={"help": "surplus_share: cost per share of the round limit used."},
    )
    init_adapter: str | None = field(
        default=None,
        metadata={"help": "LoRA adapter to start from (the SFT output directory); a fresh LoRA when unset."},
    )
    max_concurrent_opponents: int = field(
        default=64, metadata={"help": "Opponent endpoint requests in flight at once, over all rollouts."}
    )
    max_reply_chars: int = field(
        default=MAX_REPLY_CHARS,
        metadata={"help": "A reply longer than this is cut and counted as an invalid move (as in eval)."},
    )
    max_opponent_failures: int = field(
        default=64,
        metadata={"help": "Stop the run after this many rollouts in a row whose opponent failed."},
    )
    allow_sleep_mode_with_tools: bool = field(
        default=False,
        metadata={
            "help": "Accept vllm_enable_sleep_mode in colocate mode although every tool turn then re-syncs all "
            "weights (refused by default)."
        },
    )
    resume: bool = field(
        default=False,
        metadata={
            "help": "Resume from the last checkpoint in output_dir if there is one (SLURM requeue uses it)."
        },
    )

    def __post_init__(self) -> None:
        self.scenarios = _mapping(self.scenarios, "scenarios")
        self.opponents = _agent_specs(self.opponents, "opponents", weighted=True) or [
            {"name": "linear", "weight": 1.0}
        ]
        self.held_out_opponents = _agent_specs(self.held_out_opponents, "held_out_opponents", weighted=False)
        trained = {_player(spec): spec["name"] for spec in self.opponents}
        for spec in self.held_out_opponents:
            twin = trained.get(_player(spec)) or (spec["name"] if spec["name"] in trained.values() else None)
            if twin is not None:
                raise ConfigError(
                    f"held_out_opponents: {spec['name']!r} is also trained against (opponents: {twin!r}); "
                    "a held-out opponent must be one the run never meets"
                )
        if not self.roles:
            raise ValueError(f"roles must list at least one of {', '.join(ROLES)}")
        refuse_unknown(self.roles, ROLES, what="role", where="roles")
        if self.num_scenarios < 1:
            raise ValueError("num_scenarios must be at least 1")
        if min(self.max_concurrent_opponents, self.max_reply_chars, self.max_opponent_failures) < 1:
            raise ValueError("max_concurrent_opponents, max_reply_chars, max_opponent_failures must be >= 1")
        self.shaping  # noqa: B018  (checks the reward settings now, not after the model has loaded)

    @property
    def opponent_weights(self) -> dict[str, float]:
        """Opponent name -> weight, what the scenario table draws each row's opponent from."""
        return {spec["name"]: spec["weight"] for spec in cast(list[dict[str, Any]], self.opponents)}

    @property
    def opponent_specs(self) -> dict[str, dict[str, Any]]:
        """Opponent name -> its agent spec (without the weight), what the environment builds opponents from."""
        specs = cast(list[dict[str, Any]], self.opponents)
        return {spec["name"]: {k: v for k, v in spec.items() if k != "weight"} for spec in specs}

    @property
    def shaping(self) -> RewardShaping:
        return RewardShaping(**{knob.name: getattr(self, knob.name) for knob in fields(RewardShaping)})


class ExpandingTrlParser(TrlParser):
    """`TrlParser` whose `--config` YAML gets `${VAR}` / `${VAR:-default}` expanded like every other Haggle config.

    The expanded YAML goes to TRL through a temporary file, so everything else is TRL's own: the `env:` block,
    unknown keys refused, command-line flags over config values, and the types (a config value is a parser
    default, which argparse converts as it would the same text on the command line: `max_steps: ${STEPS:-6}`
    is the integer 6). Unknown keys are refused here first, with the near miss named."""

    def parse_args_and_config(
        self,
        args: Iterable[str] | None = None,
        return_remaining_strings: bool = False,
        fail_with_unknown_args: bool = True,
        separate_remaining_strings: bool = False,
    ) -> tuple[Any, ...]:
        args = list(args) if args is not None else sys.argv[1:]
        options = (return_remaining_strings, fail_with_unknown_args, separate_remaining_strings)
        if "--config" not in args or args.index("--config") + 1 >= len(args):
            return super().parse_args_and_config(args, *options)
        at = args.index("--config") + 1
        config = load_yaml(args[at])
        known = [action.dest for action in self._actions] + ["env"]
        refuse_unknown(config, known, what="training setting", where=args[at])  # TRL's error has no near miss
        with tempfile.TemporaryDirectory(prefix="haggle-config-") as folder:
            expanded = Path(folder) / Path(args[at]).name
            expanded.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
            return super().parse_args_and_config([*args[:at], str(expanded), *args[at + 1 :]], *options)
