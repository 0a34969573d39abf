"""A run directory: one kind of run (a tournament, an eval, an experiment) of one game, resumable by rerunning it.

Layout:
    RUN_DIR/run.json    haggle.run/1: kind, config, jobs, prompt_version, created_at, resumed_at (rewritten at
                        each start)
    RUN_DIR/episodes/   the `EpisodeStore`: one SQLite database of finished episodes (RUN_DIR/errors.jsonl beside)
Episode ids are deterministic, so a rerun of the same plan plays only the jobs the store does not hold yet. A rerun
of another kind, or with a setting its kind fixes changed, is refused before anything is written: its episodes
would be mixed with the stored ones.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from haggle.data.agent_specs import AgentSpec
from haggle.data.episode_store import EpisodeStore, atomic_write, check_schema
from haggle.data.job_runner import EpisodeJob, RunSummary, run_jobs_sync
from haggle.env.negotiation import ProtocolRules
from haggle.env.prompts import PROMPT_VERSION
from haggle.env.scenario import Scenario

RUN_SCHEMA = "haggle.run/1"
MANIFEST_NAME = "run.json"

FixedSettings = Callable[[dict[str, Any]], dict[str, Any]]


# -- episode ids ---------------------------------------------------------------------------------------------
def _digest(key: list[Any], length: int) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:length]


def episode_id(scenario: Scenario, buyer: AgentSpec, seller: AgentSpec, repetition: int = 0) -> str:
    """Deterministic: the same scenario, players and repetition always give the same id."""
    return _digest([scenario.scenario_id, scenario.seed, buyer.identity(), seller.identity(), repetition], 24)


def labelled_episode_id(condition: str, row: str, identity: Any, scenario: Scenario) -> str:
    """`<condition>.<row>.<digest>`: as deterministic as `episode_id`, and readable in a directory listing.

    For plans whose players are not a buyer spec and a seller spec (an experiment's mechanism rows); `identity`
    is whatever makes the row's play differ, and the digest covers it with the labels and the scenario.
    """
    digest = _digest([condition, row, identity, scenario.scenario_id, scenario.seed], 20)
    return f"{_slug(condition)[:32]}.{_slug(row)[:48]}.{digest}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "x"


# -- kinds -----------------------------------------------------------------------------------------------------
def settings(*keys: str) -> FixedSettings:
    """The fixed settings of a kind whose game is these config keys."""
    return lambda config: {key: config.get(key) for key in keys}


@dataclass(frozen=True)
class RunKind:
    """What a run directory holds, how a user starts one, and what a rerun into it may not change."""

    name: str  # run.json's `kind`
    command: str  # named in messages: "run `haggle eval` first"
    fixed: FixedSettings  # from a config as run.json stores it: the settings that make it the same game
    legacy_config: str | None = None  # where runs written before run.json existed kept their config

    @property
    def a_name(self) -> str:
        return f"{'an' if self.name[0] in 'aeiou' else 'a'} {self.name}"


# -- the directory -----------------------------------------------------------------------------------------------
class RunDirectory:
    def __init__(self, path: str | Path, kind: RunKind) -> None:
        self.path = Path(path)
        self.kind = kind
        self.manifest_path = self.path / MANIFEST_NAME

    @classmethod
    def open(cls, path: str | Path, kind: RunKind) -> tuple[RunDirectory, dict[str, Any]]:
        """An existing run directory of this kind, to read back, with its manifest."""
        run = cls(path, kind)
        manifest = run.manifest()
        if manifest is None or manifest.get("kind") != kind.name:
            raise ValueError(
                f"{run.path} is not {kind.a_name} run directory (no {kind.name} {MANIFEST_NAME}); "
                f"run `{kind.command}` first"
            )
        return run, manifest

    @cached_property
    def store(self) -> EpisodeStore:
        return EpisodeStore(self.path)  # creates the directory: only once a run starts or is read

    def manifest(self) -> dict[str, Any] | None:
        """run.json, or for a directory from before run.json existed, its kind's legacy config file."""
        if self.manifest_path.is_file():
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            check_schema(manifest, RUN_SCHEMA, str(self.manifest_path))
            return manifest
        legacy = self.path / self.kind.legacy_config if self.kind.legacy_config else None
        if legacy and legacy.is_file():
            return {"kind": self.kind.name, "config": json.loads(legacy.read_text(encoding="utf-8"))}
        return None

    def check_resumable(self, previous: dict[str, Any] | None, config: dict[str, Any]) -> None:
        """Refuse a directory that holds another kind of run or another game: its numbers would be mixed in."""
        if previous is None:
            return
        if previous.get("kind") != self.kind.name:
            raise ValueError(
                f"{self.path} holds a run of kind {previous.get('kind')!r}, not {self.kind.a_name}; "
                "use a new --out directory"
            )
        stored = self.kind.fixed(previous.get("config", {}))
        current = self.kind.fixed(_as_stored(config))
        changed = [key for key in {**current, **stored} if stored.get(key) != current.get(key)]
        if changed:
            raise ValueError(
                f"the run directory was started with different {', '.join(changed)}; resuming would mix two "
                f"{self.kind.name}s. Use a new --out directory (or restore the original config)"
            )

    def start(self, config: dict[str, Any], jobs: int) -> EpisodeStore:
        """Check that this run may go into the directory, then record it in run.json; the store to play into."""
        previous = self.manifest()
        self.check_resumable(previous, config)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        manifest = {
            "schema": RUN_SCHEMA,
            "kind": self.kind.name,
            "config": config,
            "jobs": jobs,
            "prompt_version": PROMPT_VERSION,
            "created_at": (previous or {}).get("created_at", now),
            "resumed_at": now if previous else None,
        }
        store = self.store
        atomic_write(self.manifest_path, json.dumps(manifest, indent=2, default=str))
        return store

    def play(
        self,
        config: dict[str, Any],
        jobs: Sequence[EpisodeJob],
        *,
        concurrency: int,
        max_attempts: int = 3,
        rules: ProtocolRules | None = None,
        progress: bool = True,
        workers: int | None = 1,
    ) -> RunSummary:
        """Start (or resume) the run, then play every job the store does not hold yet (in `workers` processes;
        None: as many as `job_runner.default_workers` says)."""
        store = self.start(config, len(jobs))
        return run_jobs_sync(
            jobs,
            store,
            concurrency=concurrency,
            max_attempts=max_attempts,
            rules=rules,
            progress=progress,
            workers=workers,
        )

    def stored(self, jobs: Sequence[EpisodeJob]) -> dict[str, dict[str, Any]]:
        """The finished episodes of these jobs by id, in the jobs' order (jobs not played yet are left out)."""
        wanted = {job.episode_id for job in jobs}
        records = {
            record["episode_id"]: record for record in self.store.records() if record["episode_id"] in wanted
        }
        return {job.episode_id: records[job.episode_id] for job in jobs if job.episode_id in records}


def _as_stored(config: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(config, default=str))
