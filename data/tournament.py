"""Round-robin tournaments: every ordered pair of agents, both roles, on paired scenarios.

Config (YAML, `${VAR:-default}` expanded; see configs/tournament/):
    seed: 0
    episodes_per_pairing: 50      # scenarios per ordered pair: the SAME scenarios for every pair (paired design)
    repetitions: 1                # plays of each (pair, scenario), with different agent seeds
    self_play: false              # also pair each agent with itself
    concurrency: 16               # negotiations in flight
    max_attempts: 3               # tries of an episode whose agent failed
    rules: {max_violations: 3}    # env.negotiation.ProtocolRules
    scenarios: {...}              # env.scenario.SamplerConfig
    agents: [...]                 # data.agent_specs.AgentSpec
    x-anything: ...               # ignored: a place for YAML anchors shared by several agents
Pair (A, B) has A buying from B; (B, A) swaps the roles, so each agent meets each other in both roles.
`run_tournament` plays one into a run directory (rerunning it resumes) and writes the leaderboard.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from haggle.data.agent_specs import AgentSpec
from haggle.data.job_runner import EpisodeJob, RunSummary
from haggle.data.leaderboard import leaderboard
from haggle.data.run_directory import RunDirectory, RunKind, episode_id, settings
from haggle.env.config_loading import build, load_yaml
from haggle.env.negotiation import ProtocolRules
from haggle.env.scenario import SamplerConfig, ScenarioSampler

# A run directory holds one game: agents, episodes and concurrency may change between runs into it.
TOURNAMENT = RunKind("tournament", "haggle tournament", settings("scenarios", "rules", "seed"))
LEADERBOARD_NAME = "leaderboard.json"


@dataclass
class TournamentConfig:
    agents: list[AgentSpec]
    scenarios: SamplerConfig = field(default_factory=SamplerConfig)
    rules: ProtocolRules = field(default_factory=ProtocolRules)
    seed: int = 0
    episodes_per_pairing: int = 10
    repetitions: int = 1
    self_play: bool = False
    concurrency: int = 8
    max_attempts: int = 3

    def __post_init__(self) -> None:
        names = [agent.name for agent in self.agents]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"agent names must be unique; repeated: {duplicates}")
        if len(self.agents) < (1 if self.self_play else 2):
            raise ValueError("a tournament needs at least two agents (or one with self_play: true)")
        for name in ("episodes_per_pairing", "repetitions", "concurrency", "max_attempts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> TournamentConfig:
        if not mapping.get("agents"):
            raise ValueError("the config lists no `agents`")
        return build(cls, mapping, what="tournament setting")

    @classmethod
    def from_yaml(cls, path: str | Path) -> TournamentConfig:
        return cls.from_mapping(load_yaml(path))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["agents"] = [agent.to_dict() for agent in self.agents]
        return data


def pairings(config: TournamentConfig) -> list[tuple[AgentSpec, AgentSpec]]:
    """(buyer, seller) for every ordered pair of distinct agents, plus self-play pairs when asked."""
    return [
        (buyer, seller)
        for buyer in config.agents
        for seller in config.agents
        if buyer.name != seller.name or config.self_play
    ]


def tournament_jobs(config: TournamentConfig) -> list[EpisodeJob]:
    """Scenario-major order, so that a run cut short has played every pair on the same scenarios."""
    sampler = ScenarioSampler(config.scenarios)
    scenarios = sampler.sample(config.episodes_per_pairing, config.seed)
    return [
        EpisodeJob(
            episode_id(scenario, buyer, seller, repetition),
            scenario,
            buyer,
            seller,
            {
                "buyer": buyer.name,
                "seller": seller.name,
                "repetition": repetition,
                "tournament_seed": config.seed,
            },
        )
        for scenario in scenarios
        for repetition in range(config.repetitions)
        for buyer, seller in pairings(config)
    ]


def run_tournament(
    config: TournamentConfig, run_dir: str | Path, *, progress: bool = True, workers: int | None = 1
) -> tuple[RunSummary, dict[str, Any]]:
    """Play what the run directory does not hold yet, then rank the agents on every stored episode of the plan.

    `workers` processes share the jobs (None: one per spare core, see `job_runner.default_workers`). The
    leaderboard is also written to RUN_DIR/leaderboard.json. Raises ValueError when the directory holds
    another run, and ValueError or ImportError when an agent cannot be built (then nothing was played).
    """
    run = RunDirectory(run_dir, TOURNAMENT)
    jobs = tournament_jobs(config)
    summary = run.play(
        config.to_dict(),
        jobs,
        concurrency=config.concurrency,
        max_attempts=config.max_attempts,
        rules=config.rules,
        progress=progress,
        workers=workers,
    )
    stored = run.stored(jobs)
    board = leaderboard((stored[key] for key in sorted(stored)), ScenarioSampler(config.scenarios).tier_names)
    (run.path / LEADERBOARD_NAME).write_text(json.dumps(board, indent=2), encoding="utf-8")
    return summary, board
