"""Playing an eval into a run directory, and reading it back: the model meets each opponent in both roles on the
same scenarios, every episode goes to an `EpisodeStore`, and ids are deterministic, so a rerun plays only what is
missing (a slurm requeue resumes where it stopped).

The run directory's `run.json` keeps the config, which is how reports and `haggle eval compare` rebuild the plan
and tell which stored episode belongs to which opponent, role and scenario.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from haggle.data.agent_specs import AgentSpec
from haggle.data.job_runner import EpisodeJob, RunSummary
from haggle.data.run_directory import RunDirectory, RunKind, episode_id, settings
from haggle.env.scenario import ROLES, Role, Scenario, ScenarioSampler
from haggle.eval.eval_config import EvalConfig

# A run directory is one model on one game: these may not change between runs into it (episodes may: scenario
# i depends on the seed and i alone, so more episodes extend the same sample).
FIXED_SETTINGS = ("scenarios", "rules", "seed")


def _one_model_on_one_game(config: dict[str, Any]) -> dict[str, Any]:
    return settings(*FIXED_SETTINGS)(config) | {"model": AgentSpec.from_mapping(config["model"]).identity()}


EVAL = RunKind("eval", "haggle eval", _one_model_on_one_game)

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


def run_eval(
    config: EvalConfig, run_dir: Path, *, progress: bool = True, workers: int | None = 1
) -> RunSummary:
    """Play every episode of the plan the store does not hold yet."""
    return RunDirectory(run_dir, EVAL).play(
        config.to_dict(),
        eval_jobs(config, eval_scenarios(config)),
        concurrency=config.concurrency,
        max_attempts=config.max_attempts,
        rules=config.rules,
        progress=progress,
        workers=workers,
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
    run, manifest = RunDirectory.open(run_dir, EVAL)
    config = EvalConfig.from_mapping(manifest["config"])
    scenarios = eval_scenarios(config)
    jobs = eval_jobs(config, scenarios)
    stored = run.stored(jobs)
    records: dict[Cell, list[dict[str, Any]]] = {
        (opponent.name, role): [] for opponent in config.opponents for role in ROLES
    }
    for job in jobs:
        if job.episode_id in stored:
            records[job.metadata["opponent"], job.metadata["model_role"]].append(stored[job.episode_id])
    return EvalRun(run_dir, config, scenarios, records)
