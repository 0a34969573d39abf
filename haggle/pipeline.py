"""The whole pipeline as one resumable job: tiny model → tournament → traces → SFT → GRPO → eval.

Every stage is the command a user would type (`haggle ...`, `python -m training.sft ...`), run as a subprocess,
so the pipeline proves those commands work together and adds no second code path. Stage outputs live under one
directory; `pipeline.json` there records the stages that finished, so rerunning the same command skips them and
resumes the one that was cut short (tournaments and evals skip stored episodes, training resumes from its last
checkpoint).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haggle.commands.configs import resolve_config
from haggle.env.config_loading import ConfigError, build, load_yaml, refuse_unknown

STAGES: tuple[str, ...] = ("tiny_model", "tournament", "traces", "sft", "grpo", "eval")
STATE_NAME = "pipeline.json"
# Stages whose own command resumes a partial output; the others start again from an empty directory.
SELF_RESUMING = frozenset({"tournament", "sft", "grpo", "eval"})


@dataclass
class StageConfig:
    config: str | None = None  # the stage's own YAML (tournament, SFT, GRPO, eval)
    args: list[str] = field(default_factory=list)  # extra flags, as typed on the command line
    seed: int = 0  # tiny_model only: seed of the random weights

    @classmethod
    def from_mapping(cls, stage: str, mapping: dict[str, Any] | None) -> StageConfig:
        return build(cls, mapping, what="field", where=stage)


@dataclass
class PipelineConfig:
    stages: dict[str, StageConfig]

    @classmethod
    def from_yaml(cls, path: str | Path) -> PipelineConfig:
        mapping = load_yaml(path)
        refuse_unknown(mapping, STAGES, what="pipeline stage")
        stages = {name: StageConfig.from_mapping(name, mapping.get(name)) for name in STAGES}
        for name in ("tournament", "sft", "grpo", "eval"):
            given = stages[name].config
            if not given:
                raise ConfigError(f"{path}: pipeline stage {name!r} needs `config:` (its YAML file)")
            # a path, or a built-in config by name: the pipeline runs from any directory and after `pip install .`
            stages[name].config = str(resolve_config(given, name).resolve())
        return cls(stages)


def artefacts(out: Path) -> dict[str, Path]:
    """Where each stage writes what it produces."""
    return {stage: out / stage.replace("_", "-") for stage in STAGES}


def stage_command(stage: str, config: PipelineConfig, out: Path) -> list[str]:
    """The command line of one stage; inputs come from the earlier stages' outputs."""
    paths = artefacts(out)
    settings = config.stages[stage]
    haggle = [sys.executable, "-m", "haggle"]
    training_common = ["--config", str(settings.config), "--model_name_or_path", str(paths["tiny_model"])]
    commands = {
        "tiny_model": [
            *haggle,
            "tiny-model",
            "--out",
            str(paths["tiny_model"]),
            "--seed",
            str(settings.seed),
        ],
        "tournament": [
            *haggle,
            "tournament",
            "--config",
            str(settings.config),
            "--out",
            str(paths["tournament"]),
        ]
        + ["--no-progress"],
        "traces": [*haggle, "traces", str(paths["tournament"]), "--out", str(paths["traces"])],
        "sft": [sys.executable, "-m", "haggle.training.sft", *training_common]
        + ["--dataset_name", str(paths["traces"]), "--output_dir", str(paths["sft"]), "--resume", "true"],
        "grpo": [sys.executable, "-m", "haggle.training.grpo", *training_common]
        + ["--init_adapter", str(paths["sft"]), "--output_dir", str(paths["grpo"]), "--resume", "true"],
        "eval": [*haggle, "eval", "--config", str(settings.config), "--out", str(paths["eval"])]
        + ["--model-path", str(paths["tiny_model"]), "--adapter", str(paths["grpo"]), "--no-progress"],
    }
    return commands[stage] + settings.args


class PipelineState:
    """`pipeline.json`: which stages finished, with their command and wall time; written atomically."""

    def __init__(self, out: Path) -> None:
        self.path = out / STATE_NAME
        self.stages: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            self.stages = json.loads(self.path.read_text(encoding="utf-8")).get("stages", {})

    def done(self, stage: str) -> bool:
        return stage in self.stages

    def forget_from(self, stage: str) -> None:
        """Mark `stage` and everything after it as not done (`--from STAGE`)."""
        for later in STAGES[STAGES.index(stage) :]:
            self.stages.pop(later, None)
        self.save()

    def finish(self, stage: str, command: list[str], seconds: float) -> None:
        self.stages[stage] = {"command": command, "seconds": round(seconds, 2)}
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"stages": self.stages}, indent=2), encoding="utf-8")
        os.replace(temporary, self.path)


class StageFailed(RuntimeError):
    pass


def run_pipeline(
    config: PipelineConfig,
    out: Path,
    *,
    restart_from: str | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Run every stage not yet done, in order; return the artefact paths. A failing stage raises `StageFailed`
    and leaves the finished ones recorded, so the same call resumes after the cause is fixed."""
    out = out.resolve()
    state = PipelineState(out)
    if restart_from:
        state.forget_from(restart_from)
    paths = artefacts(out)
    for number, stage in enumerate(STAGES, 1):
        header = f"[{number}/{len(STAGES)}] {stage}"
        if state.done(stage):
            say(f"{header}: done earlier ({state.stages[stage]['seconds']:.0f} s), skipped")
            continue
        if stage not in SELF_RESUMING and paths[stage].exists():
            shutil.rmtree(paths[stage])  # a partial output of a stage that cannot resume
        command = stage_command(stage, config, out)
        say(f"{header}: $ {' '.join(command)}")
        started = time.perf_counter()
        code = subprocess.run(command, env={**os.environ, "PYTHONUNBUFFERED": "1"}).returncode
        if code != 0:
            raise StageFailed(
                f"stage {stage} failed (exit {code}); fix the cause and rerun the same command: finished stages "
                "are skipped and this one resumes"
            )
        seconds = time.perf_counter() - started
        state.finish(stage, command, seconds)
        say(f"{header}: finished in {seconds:.0f} s -> {paths[stage]}")
    return paths
