"""Running a preset: every model plays itself in every condition, every mechanism plays once, all on the same
scenarios, and every episode goes to one resumable run directory.

Episode ids are readable and deterministic, `<condition>.<row>.<digest>` (mechanisms use the condition
`mechanism`; see `data.run_directory.labelled_episode_id`); the digest covers the condition, the row's full spec
and the scenario, so a rerun of the same preset into the same directory plays only what is missing, and the stored
preset stops a different one from mixing in.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haggle.data.job_runner import EpisodeJob, run_jobs_sync
from haggle.data.run_directory import RunDirectory, RunKind, labelled_episode_id
from haggle.env.scenario import ROLES, Scenario, ScenarioSampler
from haggle.eval.experiments import disclosure  # noqa: F401  (registers the scripted disclosure strategies)
from haggle.eval.experiments.experiment_config import ExperimentConfig
from haggle.eval.experiments.mechanisms import MechanismSpec

RESOLVED_CONFIG = "experiment.json"  # the resolved preset, as the report reads it
MECHANISM_CONDITION = "mechanism"


def _same_preset(resolved: dict[str, Any]) -> dict[str, Any]:
    """Only `episodes` and `concurrency` may change between runs: scenario i depends on the seed and i alone, so
    a larger `episodes` extends the same paired sample."""
    return {key: value for key, value in resolved.items() if key not in ("episodes", "concurrency")}


# Directories written before run.json existed hold the resolved preset in experiment.json alone.
EXPERIMENT = RunKind("experiment", "haggle experiment run", _same_preset, legacy_config=RESOLVED_CONFIG)

Grouped = dict[tuple[str, str], list[dict[str, Any]]]  # (condition, row) -> finished episodes


@dataclass(frozen=True)
class ExperimentSummary:
    """How much of a preset's plan the run directory holds, by kind of row."""

    run_dir: Path
    agent_episodes: int  # agent episodes in the plan
    mechanism_episodes: int
    stored: int  # episodes of this plan in the store after this run


def experiment_scenarios(config: ExperimentConfig) -> list[Scenario]:
    return ScenarioSampler(config.scenarios).sample(config.episodes, config.seed)


def agent_jobs(config: ExperimentConfig, scenarios: list[Scenario]) -> list[EpisodeJob]:
    jobs = []
    for condition in config.conditions:
        for model in config.models:
            buyer, seller = (config.agent_spec(model, condition, role) for role in ROLES)
            identity = [buyer.identity(), seller.identity()]
            metadata = {"experiment": config.name, "condition": condition.name, "row": model.name}
            jobs += [
                EpisodeJob(
                    labelled_episode_id(condition.name, model.name, identity, scenario),
                    scenario,
                    buyer,
                    seller,
                    metadata | {"row_kind": "agent"},
                )
                for scenario in scenarios
            ]
    return jobs


def mechanism_record(config: ExperimentConfig, spec: MechanismSpec, scenario: Scenario) -> dict[str, Any]:
    """A mechanism's play in the store's episode format: the outcome and metadata, no transcript to replay."""
    outcome = spec.play(scenario)
    player = {"name": spec.name, "kind": "mechanism", "mechanism": spec.mechanism, "params": spec.params}
    return {
        "episode_id": mechanism_episode_id(spec, scenario),
        "status": "ok",
        "metadata": {
            "experiment": config.name,
            "condition": MECHANISM_CONDITION,
            "row": spec.name,
            "row_kind": "mechanism",
        },
        "agents": {role: player for role in ROLES},
        "scenario": scenario.to_dict(),
        "events": [],
        "turns": [],
        "outcome": outcome.to_dict(),
    }


def mechanism_episode_id(spec: MechanismSpec, scenario: Scenario) -> str:
    return labelled_episode_id(MECHANISM_CONDITION, spec.name, [spec.mechanism, spec.params], scenario)


def run_experiment(
    config: ExperimentConfig,
    resolved: dict[str, Any],
    run_dir: Path,
    *,
    concurrency: int | None = None,
    progress: bool = True,
) -> ExperimentSummary:
    """Play what is not stored yet; `resolved` is the preset mapping the config came from (kept for the report)."""
    scenarios = experiment_scenarios(config)
    jobs = agent_jobs(config, scenarios)
    run = RunDirectory(run_dir, EXPERIMENT)
    store = run.start(resolved, len(jobs) + len(config.mechanisms) * len(scenarios))
    (run.path / RESOLVED_CONFIG).write_text(json.dumps(resolved, indent=2, sort_keys=True), encoding="utf-8")
    done = store.completed_ids()
    mechanism_ids = []
    for spec in config.mechanisms:
        for scenario in scenarios:
            mechanism_ids.append(mechanism_episode_id(spec, scenario))
            if mechanism_ids[-1] not in done:
                store.write(mechanism_record(config, spec, scenario))
    if jobs:
        run_jobs_sync(
            jobs, store, concurrency=concurrency or config.concurrency, rules=config.rules, progress=progress
        )
    planned = {job.episode_id for job in jobs} | set(mechanism_ids)
    return ExperimentSummary(run_dir, len(jobs), len(mechanism_ids), len(planned & store.completed_ids()))


def load_experiment_run(run_dir: Path) -> tuple[ExperimentConfig, Grouped]:
    """The run's preset and its stored episodes grouped by (condition, row), in the preset's order."""
    run, manifest = RunDirectory.open(run_dir, EXPERIMENT)
    config = ExperimentConfig.from_mapping(manifest["config"])
    grouped: Grouped = defaultdict(list)
    for record in run.store.records():
        if record.get("status", "ok") == "ok" and record.get("outcome"):
            grouped[(record["metadata"]["condition"], record["metadata"]["row"])].append(record)
    order = [(c.name, m.name) for c in config.conditions for m in config.models]
    order += [(MECHANISM_CONDITION, spec.name) for spec in config.mechanisms]
    ordered = {key: grouped[key] for key in order if grouped.get(key)}
    if not ordered:
        raise ValueError(f"{run_dir} holds no finished episodes yet")
    return config, ordered
