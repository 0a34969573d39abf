"""The tournament leaderboard: surplus share and deal rate per agent, role and price tier, plus usage per model.

An agent's score is the mean over its two roles of its unconditional surplus share (the share of the available
gains it captured, 0 when no deal was struck, over scenarios where a deal was possible). Averaging the roles
keeps the buyer/seller asymmetry of a scenario set from favouring anyone, since every agent plays both.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from statistics import fmean
from typing import Any

from haggle.env.metrics import Played, summarise_by_tier
from haggle.env.outcome import Outcome
from haggle.env.scenario import ROLES, Scenario

LEADERBOARD_SCHEMA = "haggle.leaderboard/1"


def _row(agent: str, role: str, tier: str, summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "agent": agent,
        "role": role,
        "tier": tier,
        "episodes": summary["episodes"],
        "deal_rate": summary["deal_rate"],
        "surplus_share": summary["surplus_share_unconditional"][role],
        "surplus_share_given_deal": summary["surplus_share"][role],
        "efficiency": summary["efficiency"],
        "violations_per_episode": summary["violations_per_episode"][role],
    }


def leaderboard(records: Iterable[dict[str, Any]], tier_order: Sequence[str] | None = None) -> dict[str, Any]:
    played: dict[tuple[str, str], list[Played]] = defaultdict(list)
    usage: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        scenario, outcome = Scenario.from_dict(record["scenario"]), Outcome.from_dict(record["outcome"])
        for role in ROLES:
            agent = record["agents"][role]["name"]
            played[(agent, role)].append((scenario, outcome))
            usage[agent].update(record.get("usage", {}).get(role, {}))
    rows, scores = [], defaultdict(list)
    for (agent, side), items in sorted(played.items()):
        summary = summarise_by_tier(items, tier_order)
        rows.append(_row(agent, side, "all", summary))
        rows += [_row(agent, side, tier, tier_summary) for tier, tier_summary in summary["tiers"].items()]
        if summary["surplus_share_unconditional"][side] is not None:
            scores[agent].append(summary["surplus_share_unconditional"][side])
    agents = sorted({agent for agent, _ in played})
    ranking = [
        {
            "agent": agent,
            "score": fmean(scores[agent]) if scores[agent] else None,
            "episodes": sum(len(played[(agent, role)]) for role in ROLES),
            "deal_rate": fmean(o.deal for role in ROLES for _, o in played[(agent, role)]),
        }
        for agent in agents
    ]
    ranking.sort(key=lambda entry: -1.0 if entry["score"] is None else -float(entry["score"]))
    return {
        "schema": LEADERBOARD_SCHEMA,
        "ranking": ranking,
        "rows": rows,
        "usage": {agent: dict(usage[agent]) for agent in agents if usage[agent]},
    }


def _fmt(value: float | None, width: int = 7, percent: bool = False) -> str:
    if value is None:
        return f"{'-':>{width}}"
    return f"{value:>{width}.1%}" if percent else f"{value:>{width}.3f}"


def format_leaderboard(board: dict[str, Any]) -> str:
    """Ranking, then one line per agent x role x tier, then tokens and cost per model."""
    name_width = max([len(entry["agent"]) for entry in board["ranking"]] + [5])
    lines = [f"{'rank':>4}  {'agent':<{name_width}}  {'score':>7}  {'deals':>7}  {'episodes':>8}"]
    for rank, entry in enumerate(board["ranking"], 1):
        lines.append(
            f"{rank:>4}  {entry['agent']:<{name_width}}  {_fmt(entry['score'])}  "
            f"{_fmt(entry['deal_rate'], percent=True)}  {entry['episodes']:>8}"
        )
    lines += [
        "",
        f"{'agent':<{name_width}}  {'role':<6}  {'tier':>6}  {'episodes':>8}  {'deals':>7}  "
        f"{'share':>7}  {'|deal':>7}  {'viol/ep':>7}",
    ]
    for row in board["rows"]:
        lines.append(
            f"{row['agent']:<{name_width}}  {row['role']:<6}  {row['tier']:>6}  {row['episodes']:>8}  "
            f"{_fmt(row['deal_rate'], percent=True)}  {_fmt(row['surplus_share'])}  "
            f"{_fmt(row['surplus_share_given_deal'])}  {_fmt(row['violations_per_episode'])}"
        )
    if board["usage"]:
        lines += [
            "",
            f"{'model':<{name_width}}  {'requests':>8}  {'prompt tok':>11}  {'output tok':>11}  {'cost':>9}",
        ]
        for agent, usage in board["usage"].items():
            cost = f"{usage['cost']:>9.4f}" if "cost" in usage else f"{'-':>9}"
            lines.append(
                f"{agent:<{name_width}}  {int(usage.get('requests', 0)):>8}  "
                f"{int(usage.get('prompt_tokens', 0)):>11}  {int(usage.get('completion_tokens', 0)):>11}  {cost}"
            )
    return "\n".join(lines)
