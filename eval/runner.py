"""Playing an eval into a run directory, and reading it back: the model meets each opponent in both roles on the
same scenarios, every episode goes to an `EpisodeStore`, and ids are deterministic, so a rerun plays only what is
missing (a slurm requeue resumes where it stopped).

The run directory's `run.json` keeps the config, which is how reports and `haggle eval compare` rebuild the plan
and tell which stored episode belongs to which opponent, role and scenario.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from haggle.data.agent_specs import AgentSpec
from haggle.data.episode_store import EpisodeStore
from haggle.data.runner import EpisodeJob, RunSummary, episode_id, run_jobs_sync
from haggle.env.prompts import PROMPT_VERSION
from haggle.env.scenario import ROLES, Role, Scenario, ScenarioSampler
from haggle.eval.config import EvalConfig

RUN_KIND = "eval"
# A run directory is one model on one game: these may not change between runs into it (episodes may: scenario
# i depends on the seed and i alone, so more episodes extend the same sample).
FIXED_SETTINGS = ("scenarios", "rules", "seed")

Cell = tuple[str, Role]  # (opponent, the model's role)


def eval_scenarios(config: EvalConfig) -> list[Scenario]:
    """The very draw `haggle simulate --config FILE --episodes N --seed S` plays."""
    return ScenarioSampler(config.scenarios).sample(config.episodes, config.seed)


def eval_jobs(config: EvalConfig, scenarios: Sequence[Scenario]) -> list[EpisodeJob]:
    """Scenario-major order, so that a run cut short has played every opponent and role on the same scenarios."""
    jobs = []
    for index, scenario in enumerate(scenarios):
        for opponent in config.opponents:
            for role in ROLES:
                buyer, seller = (config.model, opponent) if role == "buyer" else (opponent, config.model)
                metadata = {
                    "eval_model": config.model.name,
                    "opponent": opponent.name,
                    "model_role": role,
                    "scenario_index": index,
                    "eval_seed": config.seed,
                }
                jobs.append(
                    EpisodeJob(episode_id(scenario, buyer, seller), scenario, buyer, seller, metadata)
                )
    return jobs


def check_resumable(previous: dict[str, Any] | None, config: EvalConfig) -> None:
    """Refuse a run directory that holds another game or another model: its numbers would be mixed in."""
    if previous is None:
        return
    if previous.get("kind") != RUN_KIND:
        raise ValueError(
            f"the run directory holds a {previous.get('kind')!r} run, not an eval; use a new --out"
        )
    stored = previous.get("config", {})
    current = json.loads(json.dumps(config.to_dict(), default=str))  # as the manifest stores it
    changed = [key for key in FIXED_SETTINGS if stored.get(key) != current[key]]
    if stored.get("model") and _identity(stored["model"]) != config.model.identity():
        changed.append("model")
    if changed:
        raise ValueError(
            f"the run directory was started with different {', '.join(changed)}; resuming would mix two "
            "evals. Use a new --out directory (or restore the original config)"
        )


def _identity(spec: dict[str, Any]) -> dict[str, Any]:
    return AgentSpec.from_mapping(spec).identity()


def run_eval(config: EvalConfig, run_dir: Path, *, progress: bool = True) -> RunSummary:
    """Play every episode of the plan the store does not hold yet."""
    store = EpisodeStore(run_dir)
    previous = store.manifest()
    check_resumable(previous, config)
    jobs = eval_jobs(config, eval_scenarios(config))
    now = datetime.now(UTC).isoformat(timespec="seconds")
    store.write_manifest(
        {
            "kind": RUN_KIND,
            "config": config.to_dict(),
            "jobs": len(jobs),
            "prompt_version": PROMPT_VERSION,
            "created_at": (previous or {}).get("created_at", now),
            "resumed_at": now if previous else None,
        }
    )
    return run_jobs_sync(
        jobs,
        store,
        concurrency=config.concurrency,
        max_attempts=config.max_attempts,
        rules=config.rules,
        progress=progress,
    )


@dataclass
class EvalRun:
    """A run directory read back: its config, the planned scenarios and each cell's finished episodes."""

    run_dir: Path
    config: EvalConfig
    scenarios: list[Scenario]
    records: dict[Cell, list[dict[str, Any]]]  # in scenario order; cells in config order

    @property
    def tier_names(self) -> list[str]:
        return ScenarioSampler(self.config.scenarios).tier_names


def load_run(run_dir: Path) -> EvalRun:
    store = EpisodeStore(run_dir) if (run_dir / "run.json").is_file() else None
    manifest = store.manifest() if store else None
    if manifest is None or manifest.get("kind") != RUN_KIND:
        raise ValueError(
            f"{run_dir} is not an eval run directory (no eval run.json); run `haggle eval` first"
        )
    config = EvalConfig.from_mapping(manifest["config"])
    scenarios = eval_scenarios(config)
    done = store.completed_ids()
    records: dict[Cell, list[dict[str, Any]]] = {
        (opponent.name, role): [] for opponent in config.opponents for role in ROLES
    }
    for job in eval_jobs(config, scenarios):
        if job.episode_id in done:
            cell = (job.metadata["opponent"], job.metadata["model_role"])
            records[cell].append(store.read(job.episode_id))
    return EvalRun(run_dir, config, scenarios, records)
