"""`haggle bench run`: a model plays a suite (an eval run directory, so resumable), and its result card.

card.json (`haggle.bench_card/1`): `manifest` (suite version and hash), `model` (spec identity, served model,
revision: a content hash of a local model or adapter directory, endpoint, sampling), `date`, `score` (the model's
mean share of the gains over every opponent, role and scenario with gains, no deal = 0, with a bootstrap 95%
interval: what the leaderboard ranks), `cells` (every eval metric per opponent × role × tier with intervals),
`theory`, `health` (invalid-action rate, irrational deals, walk-aways, forfeits), `usage` (tokens, cost) and
`episodes` (per scenario: deal and share, for the leaderboard's paired tests). `card_hash` covers everything but
`date`, so two runs of the same model and seed give the same `card_hash`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from haggle.data.agent_specs import AgentSpec
from haggle.data.job_runner import RunSummary
from haggle.env.outcome import Outcome
from haggle.eval import stats
from haggle.eval.bench_suite import BenchSuite, content_hash, manifest
from haggle.eval.eval_report import build_eval
from haggle.eval.eval_run import EvalRun, load_run, run_eval
from haggle.eval.formatting import ci, num, table

CARD_SCHEMA = "haggle.bench_card/1"
UNHASHED = ("date", "card_hash")
SUITE_SETTINGS = ("scenarios", "rules", "seed", "episodes", "opponents", "bootstrap_resamples")


def directory_hash(path: Path) -> str:
    """sha256 over every file's relative path and content: the revision of a local model or adapter."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def model_identity(spec: AgentSpec) -> dict[str, Any]:
    params = spec.params
    served = params.get("model")
    revisions = {
        key: directory_hash(Path(params[key]))
        for key in ("model", "adapter")
        if params.get(key) and Path(params[key]).is_dir()
    }
    return {
        "name": spec.name,
        "kind": spec.kind,
        "served": served or spec.strategy or spec.name,
        "revision": revisions or None,  # None: a scripted strategy, or a model named by an endpoint or hub id
        "endpoint": params.get("base_url"),
        "sampling": params.get("sampling"),
        "spec": spec.identity(),
    }


def run_bench(
    suite: BenchSuite, model: AgentSpec, run_dir: Path, *, concurrency: int = 8, progress: bool = True
) -> RunSummary:
    """Play every suite episode the run directory does not hold yet."""
    suite.check_installed()
    return run_eval(suite.eval_config(model, concurrency=concurrency), run_dir, progress=progress)


def _episodes(run: EvalRun) -> list[dict[str, Any]]:
    rows = []
    for (opponent, role), records in run.records.items():
        for record in records:
            outcome = Outcome.from_dict(record["outcome"])
            rows.append(
                {
                    "opponent": opponent,
                    "role": role,
                    "scenario": record["scenario"]["scenario_id"],
                    "deal": outcome.deal,
                    "share": outcome.surplus_share(role),  # None: no gains from trade
                }
            )
    return rows


def _health(run: EvalRun, cells: list[dict[str, Any]]) -> dict[str, Any]:
    pooled = [cell for cell in cells if cell["tier"] == "all"]
    turns = violations = 0
    for (_, role), records in run.records.items():
        for record in records:
            turns += sum(turn["role"] == role for turn in record.get("turns", []))
            violations += Outcome.from_dict(record["outcome"]).violations.get(role, 0)
    return {
        "model_turns": turns,
        "invalid_actions": violations,
        "invalid_action_rate": violations / turns if turns else None,
        "irrational_deals": sum(cell["irrational_deals"] for cell in pooled),
        "walk_aways_when_possible": sum(cell["walk_aways_when_possible"] for cell in pooled),
        "forfeits": sum(cell["forfeits"] for cell in pooled),
    }


def _usage(run: EvalRun) -> dict[str, float]:
    total: Counter[str] = Counter()
    for (_, role), records in run.records.items():
        for record in records:
            total.update(record.get("usage", {}).get(role, {}))
    return {key: round(value, 6) for key, value in sorted(total.items()) if key != "latency_s"}


def score(episodes: list[dict[str, Any]], resamples: int) -> dict[str, Any]:
    shares = [row["share"] if row["deal"] else 0.0 for row in episodes if row["share"] is not None]
    if not shares:
        return {"value": None, "ci": None, "scenarios": 0}
    interval = stats.bootstrap_ci(shares, resamples=resamples, seed=0)
    return {"value": sum(shares) / len(shares), "ci": [interval.low, interval.high], "scenarios": len(shares)}


def build_card(suite: BenchSuite, run_dir: Path) -> dict[str, Any]:
    run = load_run(run_dir)
    evaluation = build_eval(run)
    suite_manifest = manifest(suite)
    played, frozen = run.config.to_dict(), suite.eval_config(run.config.model).to_dict()
    if any(played[key] != frozen[key] for key in SUITE_SETTINGS):
        raise ValueError(f"{run_dir} holds an eval that is not suite {suite.version}: use a fresh --out")
    episodes = _episodes(run)
    card = {
        "schema": CARD_SCHEMA,
        "manifest": {"version": suite.version, "hash": suite_manifest["hash"], "content": suite_manifest},
        "model": model_identity(run.config.model),
        "episodes_planned": evaluation["episodes_planned"],
        "episodes_stored": evaluation["episodes_stored"],
        "score": score(episodes, suite.bootstrap_resamples),
        "cells": evaluation["cells"],
        "theory": evaluation["theory"],
        "health": _health(run, evaluation["cells"]),
        "usage": _usage(run),
        "episodes": episodes,
    }
    return card | {"card_hash": content_hash(card), "date": datetime.now(UTC).isoformat(timespec="seconds")}


def comparable(card: dict[str, Any]) -> dict[str, Any]:
    """The card without what may differ between two runs of the same model and seed (the date)."""
    return {key: value for key, value in card.items() if key not in UNHASHED}


def format_card(card: dict[str, Any]) -> str:
    model, health, usage, points = card["model"], card["health"], card["usage"], card["score"]
    revision = ", ".join(f"{key} {value[:12]}" for key, value in (model["revision"] or {}).items()) or "–"
    pooled = [cell for cell in card["cells"] if cell["tier"] == "all"]
    parts = [
        f"# Haggle Bench {card['manifest']['version']}: {model['name']}",
        f"Manifest `{card['manifest']['hash']}`; card `{card['card_hash'][:16]}`; {card['date']}.",
        f"Model `{model['served']}` ({model['kind']}); revision {revision}; endpoint {model['endpoint'] or '–'}; "
        f"sampling {json.dumps(model['sampling']) if model['sampling'] else '–'}.",
        f"**Score** (mean share of the gains over every opponent, role and scenario with gains; no deal = 0): "
        f"{ci(points['value'], points['ci'])} over {points['scenarios']} scenarios; "
        f"{card['episodes_stored']}/{card['episodes_planned']} episodes stored.",
        "## Per opponent and role (all tiers; eval.md in the run directory has every tier and the theory)",
        table(
            [
                "opponent",
                "role",
                "n",
                "deal rate [95%]",
                "share, all [95%]",
                "efficiency [95%]",
                "irrational",
                "walk-aways",
            ],
            [
                [
                    c["opponent"],
                    c["role"],
                    str(c["episodes"]),
                    ci(c["deal_rate"], c["deal_rate_ci"]),
                    ci(c["surplus_share_unconditional"], c["surplus_share_unconditional_ci"]),
                    ci(c["efficiency"], c["efficiency_ci"]),
                    str(c["irrational_deals"]),
                    str(c["walk_aways_when_possible"]),
                ]
                for c in pooled
            ],
        ),  # fmt: skip
        "## Protocol health and usage",
        f"Invalid actions {health['invalid_actions']}/{health['model_turns']} turns "
        f"({num(health['invalid_action_rate'])}); irrational deals {health['irrational_deals']}; walk-aways "
        f"although v > c {health['walk_aways_when_possible']}; forfeits {health['forfeits']}. Usage: "
        + (", ".join(f"{key} {value:g}" for key, value in usage.items()) or "none (scripted)")
        + ".",
    ]
    return "\n\n".join(parts) + "\n"


def write_card(suite: BenchSuite, run_dir: Path) -> dict[str, Any]:
    """card.json and card.md in the run directory (next to the eval's own eval.json and eval.md)."""
    card = build_card(suite, run_dir)
    (run_dir / "card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    (run_dir / "card.md").write_text(format_card(card), encoding="utf-8")
    return card
