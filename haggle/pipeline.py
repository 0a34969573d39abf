"""The whole pipeline as one resumable job: tiny model → tournament → traces → SFT → GRPO → eval.

Every stage is the command a user would type (`haggle ...`, `python -m training.sft ...`), run as a subprocess,
so the pipeline proves those commands work together and adds no second code path. Stage outputs live under one
directory; `pipeline.json` there records the stages that finished, so rerunning the same command skips them and
resumes the one that was cut short (tournaments and evals skip stored episodes, training resumes from its last
checkpoint). The eval stage plays the untrained model, the SFT adapter and the GRPO adapter on the same held-out
scenarios, so the job ends with a before/after table of what training changed.
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

import numpy as np

from haggle.commands.configs import resolve_config
from haggle.env.config_loading import ConfigError, build, load_yaml, refuse_unknown
from haggle.env.metrics import pooled_efficiency, share_rows
from haggle.env.outcome import Outcome
from haggle.env.scenario import Scenario

STAGES: tuple[str, ...] = ("tiny_model", "tournament", "traces", "sft", "grpo", "eval")
STATE_NAME = "pipeline.json"
# Stages whose own command resumes a partial output; the others start again from an empty directory.
SELF_RESUMING = frozenset({"tournament", "sft", "grpo", "eval"})
EVAL_MODELS: tuple[str, ...] = ("untrained", "sft", "grpo")  # eval/<model>/: before and after training


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


def stage_commands(stage: str, config: PipelineConfig, out: Path) -> list[list[str]]:
    """The command lines of one stage; inputs come from the earlier stages' outputs. Every stage is one command
    but eval, which plays each model of `EVAL_MODELS` on the same scenarios (the config's seed)."""
    paths = artefacts(out)
    settings = config.stages[stage]
    haggle = [sys.executable, "-m", "haggle"]
    # tqdm's bars (with an ETA) on a terminal; in a log file their carriage returns garble the lines
    progress = [] if sys.stderr.isatty() else ["--no-progress"]
    training_common = ["--config", str(settings.config), "--model_name_or_path", str(paths["tiny_model"])]
    if stage == "eval":
        adapters = {
            "untrained": [],
            "sft": ["--adapter", str(paths["sft"])],
            "grpo": ["--adapter", str(paths["grpo"])],
        }
        return [
            [*haggle, "eval", "--config", str(settings.config), "--out", str(paths["eval"] / model)]
            + ["--model-path", str(paths["tiny_model"]), *adapters[model], *progress, *settings.args]
            for model in EVAL_MODELS
        ]
    commands = {
        "tiny_model": [
            *haggle,
            "tiny-model",
            "--out",
            str(paths["tiny_model"]),
            "--seed",
            str(settings.seed),
        ],
        "tournament": [*haggle, "tournament", "--config", str(settings.config)]
        + ["--out", str(paths["tournament"]), *progress],
        "traces": [*haggle, "traces", str(paths["tournament"]), "--out", str(paths["traces"])],
        "sft": [sys.executable, "-m", "haggle.training.sft", *training_common]
        + ["--dataset_name", str(paths["traces"]), "--output_dir", str(paths["sft"]), "--resume", "true"],
        "grpo": [sys.executable, "-m", "haggle.training.grpo", *training_common]
        + ["--init_adapter", str(paths["sft"]), "--output_dir", str(paths["grpo"]), "--resume", "true"],
    }
    return [commands[stage] + settings.args]


Interval = tuple[float, float]


@dataclass
class ModelScore:
    """One model's eval run in the before/after table, each rate with its 95% interval: Wilson for the deal rate,
    a percentile bootstrap over episodes for the two ratios (an episode's turns, or its surplus and gains, stay
    together)."""

    episodes: int
    valid_moves: float | None  # share of the model's turns that were valid tool calls; None: it never moved
    valid_moves_ci: Interval | None
    deal_rate: float
    deal_rate_ci: Interval
    loss_deals: int  # deals at a loss to the model: a deal rate is only good news without these
    share_of_gains: float | None  # its surplus over the gains there were (`env.metrics.pooled_share`)
    share_of_gains_ci: Interval | None


def score_eval_run(run_dir: Path, resamples: int = 2000) -> ModelScore:
    from haggle.eval import stats  # the eval stack: only once there is a run to read
    from haggle.eval.eval_report import pooled_ratio_ci
    from haggle.eval.eval_run import load_run

    played = [
        (record["metadata"]["model_role"], record)
        for records in load_run(run_dir).records.values()
        for record in records
    ]
    if not played:
        raise StageFailed(
            f"{run_dir} holds no finished episodes: rerun the pipeline to finish its eval stage"
        )

    def ratio(rows: np.ndarray, bounds: Interval | None) -> tuple[float | None, Interval | None]:
        """Σ first column / Σ second over episodes, with its bootstrap interval; None where the second sums to 0."""
        interval = pooled_ratio_ci(rows, resamples, seed=0, bounds=bounds)
        if interval is None:
            return None, None
        return pooled_efficiency(rows[:, 0], rows[:, 1]), (interval[0], interval[1])

    turns = np.array(
        [
            (moved - record["outcome"]["violations"][role], moved)
            for role, record in played
            if (moved := sum(turn["role"] == role for turn in record["turns"]))
        ],
        dtype=float,
    ).reshape(-1, 2)
    valid_moves, valid_moves_ci = ratio(turns, (0.0, 1.0))
    share, share_ci = ratio(
        share_rows(
            (Scenario.from_dict(r["scenario"]), Outcome.from_dict(r["outcome"]), role) for role, r in played
        ),
        None,  # a loss can take it below 0
    )
    deals = sum(record["outcome"]["deal"] for _, record in played)
    wilson = stats.wilson_interval(deals, len(played))
    return ModelScore(
        episodes=len(played),
        valid_moves=valid_moves,
        valid_moves_ci=valid_moves_ci,
        deal_rate=deals / len(played),
        deal_rate_ci=(wilson.low, wilson.high),
        loss_deals=sum(record["outcome"]["irrational_side"] == role for role, record in played),
        share_of_gains=share,
        share_of_gains_ci=share_ci,
    )


def _estimate(value: float | None, interval: Interval | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if interval is None else f"{value:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def before_after_table(eval_dir: Path) -> str:
    """The quick start's answer: what SFT and GRPO changed, each model on the same held-out scenarios."""
    scores = {model: score_eval_run(eval_dir / model) for model in EVAL_MODELS}
    episodes = {score.episodes for score in scores.values()}
    columns = ["model", "valid moves [95%]", "deal rate [95%]", "deals at a loss", "share of gains [95%]"]
    rows = [
        [
            model,
            _estimate(score.valid_moves, score.valid_moves_ci),
            _estimate(score.deal_rate, score.deal_rate_ci),
            f"{score.loss_deals}/{score.episodes}",
            _estimate(score.share_of_gains, score.share_of_gains_ci),
        ]
        for model, score in scores.items()
    ]
    widths = [max(len(line[i]) for line in [columns, *rows]) for i in range(len(columns))]
    return "\n".join(
        [
            f"before/after, the same {'/'.join(map(str, sorted(episodes)))} held-out episodes per model "
            f"(details: {eval_dir}/<model>/eval.md; compare them paired: haggle eval compare)",
            *(
                "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
                for line in [columns, *rows]
            ),
        ]
    )


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

    def finish(self, stage: str, commands: list[list[str]], seconds: float) -> None:
        self.stages[stage] = {"commands": commands, "seconds": round(seconds, 2)}
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
        commands = stage_commands(stage, config, out)
        started = time.perf_counter()
        for command in commands:
            say(f"{header}: $ {' '.join(command)}")
            code = subprocess.run(command, env={**os.environ, "PYTHONUNBUFFERED": "1"}).returncode
            if code != 0:
                raise StageFailed(
                    f"stage {stage} failed (exit {code}); fix the cause and rerun the same command: finished "
                    "stages are skipped and this one resumes"
                )
        seconds = time.perf_counter() - started
        state.finish(stage, commands, seconds)
        say(f"{header}: finished in {seconds:.0f} s -> {paths[stage]}")
    return paths
