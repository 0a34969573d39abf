"""SFT traces: stored episodes turned into a Hugging Face `DatasetDict` in TRL's conversational tool format.

Each example is one side of one episode, rebuilt by replaying the stored moves through the engine and rendering
what that side read (`Transcript`, the same code the LLM agent uses at evaluation time): system prompt (with the
side's own `system_prompt_suffix` from its stored agent spec, as the model saw it), opening, then its assistant
turns (tool calls, and reasoning when kept) and the tool replies. It is built from that side's views alone, so it
never holds the other side's private value. Splits are by scenario (no scenario in both). Mechanism rows of
experiment runs (`metadata.row_kind: mechanism`: a k-double auction or a posted price, not a dialogue) are skipped.

Schema (haggle.traces/1, `FEATURES`), as TRL 1.x's SFTTrainer reads it:
    messages   list of {role, content, tool_calls, tool_call_id, name, reasoning_content}. Assistant `tool_calls`
               are [{id, type: "function", function: {name, arguments}}] stored with the `Json()` feature, so
               `arguments` comes back as the dict the model wrote (a string only when the model wrote broken
               JSON): chat templates that need a mapping (Qwen2.5, Llama 3.1, Qwen3.5, Gemma 4) and Qwen3's alike
               render it, with no null-padded keys. Tool replies carry `tool_call_id` and `name`.
    tools      the OpenAI tool schemas as a JSON string (SFTTrainer json-decodes a string `tools`)
    episode_id, scenario_id, role, agent, opponent, price_tier, domain, deal, end_reason, violations,
    prompt_version
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from haggle.data.episode_store import EpisodeStore
from haggle.data.tool_parsing import visible_content
from haggle.data.transcript import Message, Transcript
from haggle.env.actions import ToolCall, Unparseable, tool_schemas
from haggle.env.negotiation import Negotiation, ProtocolRules
from haggle.env.outcome import Outcome
from haggle.env.prompts import PROMPT_VERSION
from haggle.env.scenario import ROLES, Role, Scenario, other_role

TRACES_SCHEMA = "haggle.traces/1"
MANIFEST_NAME = "haggle_traces.json"


def features() -> Any:
    """The dataset's Arrow schema. `Json()` (datasets >= 4.7) holds tool calls whose arguments differ per tool."""
    from datasets import Features, Json, List, Value

    text = Value("string")
    message = {
        "role": text,
        "content": text,
        "tool_calls": List(Json()),
        "tool_call_id": text,
        "name": text,
        "reasoning_content": text,
    }
    columns = ("episode_id", "scenario_id", "role", "agent", "opponent", "price_tier", "domain", "end_reason")
    return Features(
        {
            "messages": List(message),
            "tools": text,
            **{column: text for column in columns},
            "deal": Value("bool"),
            "violations": Value("int64"),
            "prompt_version": text,
        }
    )


@dataclass(frozen=True)
class TraceFilters:
    roles: tuple[str, ...] = ROLES
    agents: tuple[str, ...] | None = None  # keep sides played by these agents (None = all)
    tier_names: tuple[str, ...] | None = None
    deals_only: bool = False
    min_surplus_share: float | None = None  # the side's share of the available gains (no gains = dropped)
    # also keep sides that closed no deal where there were no gains (v <= c), other than by their own forfeit:
    # the right call there, which data filtered to good deals never show (the model then learns no honest exit)
    no_deal_without_gains: bool = False
    no_violations: bool = False  # drop sides that made an invalid move
    dedupe: bool = True  # identical conversations are kept once
    include_reasoning: bool = True  # keep reasoning as `reasoning_content` of the assistant turns


class ReplayError(RuntimeError):
    """A stored episode does not replay to its stored outcome (written by another engine version?)."""


def is_mechanism_row(record: dict[str, Any]) -> bool:
    """A one-shot mechanism's outcome stored beside the dialogues of an experiment run: nothing to replay."""
    return (record.get("metadata") or {}).get("row_kind") == "mechanism"


def replay_conversation(record: dict[str, Any], role: Role, include_reasoning: bool = True) -> list[Message]:
    """The chat `role` held during the stored episode, ending with its last move."""
    negotiation = Negotiation(
        Scenario.from_dict(record["scenario"]), ProtocolRules.from_mapping(record["rules"])
    )
    params = record["agents"][role].get("params") or {}
    transcript = Transcript(params.get("system_prompt_suffix"))
    for turn in record["turns"]:
        move = (
            ToolCall(turn["move"]["name"], turn["move"]["arguments"])
            if turn["move_type"] == "ToolCall"
            else Unparseable(turn["move"]["error"])
        )
        if turn["role"] == role:
            transcript.observe(negotiation.view(role))
            reasoning = turn.get("reasoning") if include_reasoning else None
            transcript.add_move(
                visible_content(turn.get("raw_output")),
                move if isinstance(move, ToolCall) else None,
                reasoning,
            )
        negotiation.step(turn["role"], move)
    stored = record["outcome"]
    replayed = negotiation.outcome
    if replayed is None or (replayed.deal, replayed.price, replayed.end_reason) != (
        stored["deal"],
        stored["price"],
        stored["end_reason"],
    ):
        raise ReplayError(f"episode {record['episode_id']} does not replay to its stored outcome")
    return transcript.messages


def _keep(record: dict[str, Any], role: str, filters: TraceFilters) -> bool:
    outcome = Outcome.from_dict(record["outcome"])
    share = outcome.surplus_share(role)  # type: ignore[arg-type]
    right_exit = (
        filters.no_deal_without_gains
        and not outcome.deal
        and outcome.available_gains <= 0
        and not outcome.ended("forfeit", by=role)  # type: ignore[arg-type]
    )
    good_deal = (not filters.deals_only or outcome.deal) and (
        filters.min_surplus_share is None or (share is not None and share >= filters.min_surplus_share)
    )
    return (
        role in filters.roles
        and (filters.agents is None or record["agents"][role]["name"] in filters.agents)
        and (filters.tier_names is None or record["scenario"]["price_tier"] in filters.tier_names)
        and (right_exit or good_deal)
        and (not filters.no_violations or outcome.violations.get(role, 0) == 0)
    )


def _check_prompt_version(record: dict[str, Any], role: str) -> None:
    """Replay renders today's prompts; for an LLM side stored under other prompts that would not be the chat the
    model saw (a scripted side reads no prompt, so its dialogue replays under any version)."""
    agent = record["agents"][role]
    if agent.get("kind", "scripted") != "scripted" and record["prompt_version"] != PROMPT_VERSION:
        raise ReplayError(
            f"episode {record['episode_id']}: {agent['name']} played it under prompt version "
            f"{record['prompt_version']}, and this Haggle renders version {PROMPT_VERSION}, so its trace would not "
            "be what the model saw. Replay it with the Haggle version that played it, or keep other sides "
            "(--agents / --roles)"
        )


def examples_from_records(records: Iterable[dict[str, Any]], filters: TraceFilters) -> list[dict[str, Any]]:
    examples, seen = [], set()
    for record in records:
        if is_mechanism_row(record):
            continue
        tools = json.dumps(tool_schemas(tuple(record["rules"]["actions"])), ensure_ascii=False)
        for role in ROLES:
            if not _keep(record, role, filters):
                continue
            _check_prompt_version(record, role)
            messages = replay_conversation(record, role, filters.include_reasoning)
            if not any(message["role"] == "assistant" for message in messages):
                continue  # the other side ended it before this side moved
            key = hashlib.sha256(json.dumps([messages, tools], sort_keys=True).encode()).hexdigest()
            if filters.dedupe and key in seen:
                continue
            seen.add(key)
            outcome = record["outcome"]
            examples.append(
                {
                    "messages": messages,
                    "tools": tools,
                    "episode_id": record["episode_id"],
                    "scenario_id": record["scenario"]["scenario_id"],
                    "role": role,
                    "agent": record["agents"][role]["name"],
                    "opponent": record["agents"][other_role(role)]["name"],  # type: ignore[arg-type]
                    "price_tier": record["scenario"]["price_tier"],
                    "domain": record["scenario"]["domain"]["name"],
                    "deal": outcome["deal"],
                    "end_reason": outcome["end_reason"],
                    "violations": outcome["violations"].get(role, 0),
                    "prompt_version": record["prompt_version"],
                }
            )
    return examples


def validation_scenarios(scenario_ids: Iterable[str], fraction: float) -> set[str]:
    """A stable, hash-ordered share of the scenarios (at least one when there are two or more)."""
    ordered = sorted(set(scenario_ids), key=lambda sid: hashlib.sha256(sid.encode()).hexdigest())
    if len(ordered) < 2 or fraction <= 0:
        return set()
    count = min(len(ordered) - 1, max(1, math.ceil(fraction * len(ordered))))
    return set(ordered[:count])


def write_traces(
    run_dirs: list[Path], out_dir: Path, filters: TraceFilters, validation_fraction: float = 0.1
) -> dict[str, Any]:
    """Build and save the DatasetDict, its dataset card and manifest; return the manifest."""
    from datasets import Dataset, DatasetDict

    records = [record for run_dir in run_dirs for record in EpisodeStore(run_dir).records()]
    mechanism_rows = sum(map(is_mechanism_row, records))
    examples = examples_from_records(records, filters)
    if not examples:
        skipped = f", {mechanism_rows} of them mechanism rows with no dialogue" if mechanism_rows else ""
        raise ValueError(
            f"no example passes the filters ({len(records)} episodes read{skipped}); loosen them"
        )
    held_out = validation_scenarios((e["scenario_id"] for e in examples), validation_fraction)
    everything = Dataset.from_list(examples, features=features())
    splits = DatasetDict(
        {
            "train": everything.select(
                [i for i, e in enumerate(examples) if e["scenario_id"] not in held_out]
            ),
            "validation": everything.select(
                [i for i, e in enumerate(examples) if e["scenario_id"] in held_out]
            ),
        }
    )
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / MANIFEST_NAME).is_file():
            raise FileExistsError(
                f"{out_dir} exists and is not a Haggle traces directory; choose another --out"
            )
        shutil.rmtree(out_dir)
    # An empty split saved with the default zero shards cannot be loaded back (datasets 5.2): ask for one.
    splits.save_to_disk(
        str(out_dir), num_shards={name: 1 for name, split in splits.items() if not len(split)}
    )
    manifest = {
        "schema": TRACES_SCHEMA,
        "source_runs": [str(run_dir) for run_dir in run_dirs],
        "episodes_read": len(records),
        "mechanism_rows_skipped": mechanism_rows,
        "filters": asdict(filters),
        "validation_fraction": validation_fraction,
        "counts": {
            name: {
                "examples": len(split),
                "scenarios": len(set(split["scenario_id"])),
                "by_role": dict(Counter(split["role"])),
                "by_agent": dict(Counter(split["agent"])),
                "by_tier": dict(Counter(split["price_tier"])),
                "deals": sum(split["deal"]),
            }
            for name, split in splits.items()
        },
        "prompt_versions": sorted({e["prompt_version"] for e in examples}),
    }
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    (out_dir / "README.md").write_text(dataset_card(manifest), encoding="utf-8")
    return manifest


def dataset_card(manifest: dict[str, Any]) -> str:
    counts = manifest["counts"]
    rows = [
        f"| {name} | {c['examples']} | {c['scenarios']} | {c['deals']} | "
        f"{', '.join(f'{k}: {v}' for k, v in sorted(c['by_role'].items()))} |"
        for name, c in counts.items()
    ]
    agents: Counter[str] = Counter()
    tiers: Counter[str] = Counter()
    for c in counts.values():
        agents.update(c["by_agent"])
        tiers.update(c["by_tier"])
    filters = "\n".join(f"- `{key}`: {value}" for key, value in manifest["filters"].items())
    return f"""---
tags: [haggle, negotiation, bargaining, tool-calling, sft]
haggle_schema: {manifest["schema"]}
---
# Haggle SFT traces

Negotiation dialogues from Haggle tournaments, one side of one episode per example, in TRL's conversational
tool-calling format. Built by `haggle traces` from {", ".join(f"`{run}`" for run in manifest["source_runs"])}
({manifest["episodes_read"]} episodes read, {manifest["mechanism_rows_skipped"]} of them mechanism rows with no
dialogue, skipped; prompt version {", ".join(manifest["prompt_versions"])}).

| split | examples | scenarios | deals | by role |
|---|---|---|---|---|
{chr(10).join(rows)}

Splits are by scenario: no scenario appears in both. Agents: {dict(sorted(agents.items()))}.
Price tiers: {dict(sorted(tiers.items()))}.

## Filters
{filters}

## Columns
- `messages`: system prompt, opening, then the side's assistant turns (`tool_calls`, stored as `Json()` so that
  `arguments` is a dict; `reasoning_content` when kept) and the environment's `tool` replies. Rendered from that
  side's view only: it never holds the other side's private value.
- `tools`: the tool schemas as a JSON string.
- `episode_id`, `scenario_id`, `role`, `agent`, `opponent`, `price_tier`, `domain`, `deal`, `end_reason`,
  `violations`, `prompt_version`.

## Use
```python
from datasets import load_from_disk
dataset = load_from_disk("THIS_DIRECTORY")  # train and validation
```
Train with `python training/sft.py --dataset_name THIS_DIRECTORY --dataset_test_split validation ...`.
"""
