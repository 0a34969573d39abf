"""Running a preset: every model plays itself in every condition, every mechanism plays once, all on the same
scenarios, and every episode goes to one resumable episode store under the run directory.

Episode ids are readable and deterministic, `<condition>.<row>.<digest>` (mechanisms use the condition
`mechanism`); the digest covers the condition, the row's full spec and the scenario, so a rerun of the same preset
into the same directory plays only what is missing, and the stored preset stops a different one from mixing in.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haggle.data.episode_store import EpisodeStore
from haggle.data.runner import EpisodeJob, run_jobs_sync
from haggle.env.scenario import ROLES, Scenario, ScenarioSampler
from haggle.eval.experiments import disclosure  # noqa: F401  (registers the scripted disclosure strategies)
from haggle.eval.experiments.config import ExperimentConfig
from haggle.eval.experiments.mechanisms import MechanismSpec

RESOLVED_CONFIG = "experiment.json"
MECHANISM_CONDITION = "mechanism"


@dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    agent_episodes: int  # agent episodes in the plan
    mechanism_episodes: int
    stored: int  # episodes of this plan in the store after this run


def experiment_scenarios(config: ExperimentConfig) -> list[Scenario]:
    return ScenarioSampler(config.scenarios).sample(config.episodes, config.seed)


def episode_id(condition: str, row: str, identity: Any, scenario: Scenario) -> str:
    key = json.dumps(
        [condition, row, identity, scenario.scenario_id, scenario.seed], sort_keys=True, default=str
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return f"{_slug(condition)[:32]}.{_slug(row)[:48]}.{digest}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "x"


def agent_jobs(config: ExperimentConfig, scenarios: list[Scenario]) -> list[EpisodeJob]:
    jobs = []
    for condition in config.conditions:
        for model in config.models:
            buyer, seller = (config.agent_spec(model, condition, role) for role in ROLES)
            identity = [buyer.identity(), seller.identity()]
            metadata = {"experiment": config.name, "condition": condition.name, "row": model.name}
            jobs += [
                EpisodeJob(
                    episode_id(condition.name, model.name, identity, scenario),
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
    return episode_id(MECHANISM_CONDITION, spec.name, [spec.mechanism, spec.params], scenario)


def _check_run_dir(run_dir: Path, resolved: dict[str, Any]) -> None:
    """Refuse to resume a run directory that holds a different preset (its episodes would be mixed in).

    Only `episodes` and `concurrency` may change between runs: scenario i depends on the seed and i alone, so a
    larger `episodes` extends the same paired sample.
    """
    path = run_dir / RESOLVED_CONFIG
    current = json.loads(json.dumps(resolved))
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if _identity(stored) != _identity(current):
            raise ValueError(
                f"{run_dir} holds a run of a different preset or variant ({stored.get('name')!r}); "
                "resume with the same file and variant, or pass a new --out directory"
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=2, sort_keys=True), encoding="utf-8")


def _identity(resolved: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in resolved.items() if key not in ("episodes", "concurrency")}


def run_experiment(
    config: ExperimentConfig,
    resolved: dict[str, Any],
    run_dir: Path,
    *,
    concurrency: int | None = None,
    progress: bool = True,
) -> RunSummary:
    """Play what is not stored yet; `resolved` is the preset mapping the config came from (kept for the report)."""
    _check_run_dir(run_dir, resolved)
    scenarios = experiment_scenarios(config)
    store = EpisodeStore(run_dir)
    done = store.completed_ids()
    mechanism_ids = []
    for spec in config.mechanisms:
        for scenario in scenarios:
            mechanism_ids.append(mechanism_episode_id(spec, scenario))
            if mechanism_ids[-1] not in done:
                store.write(mechanism_record(config, spec, scenario))
    jobs = agent_jobs(config, scenarios)
    if jobs:
        run_jobs_sync(
            jobs, store, concurrency=concurrency or config.concurrency, rules=config.rules, progress=progress
        )
    planned = {job.episode_id for job in jobs} | set(mechanism_ids)
    return RunSummary(run_dir, len(jobs), len(mechanism_ids), len(planned & store.completed_ids()))
