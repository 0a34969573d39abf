"""`haggle bench leaderboard`: result cards of one suite merged into a ranked table (leaderboard.md and .json) and a
plot (leaderboard.png), with paired tests between adjacent ranks.

Cards of different manifests are refused, naming the first field that differs. The suite's scripted references
are played (into DIR/references/, resumable, seconds on a CPU) whenever no card of them is given, so every
leaderboard reads a model against known strategies. Adjacent ranks are tested on the episodes both played, matched
by (opponent, role, scenario): the exact McNemar test on the deals and the sign-flip permutation test on the shares
of the gains (no deal = 0), with a paired bootstrap 95% interval of the score difference (eval.stats, as in
`haggle eval compare`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from haggle.data.agent_specs import AgentSpec
from haggle.eval import stats
from haggle.eval.bench_card import run_bench, write_card
from haggle.eval.bench_suite import BenchSuite, manifest
from haggle.eval.formatting import ci, num, p_value, table

LEADERBOARD_SCHEMA = "haggle.bench_leaderboard/1"
REFERENCE_PREFIX = "ref-"


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """The dotted path of the first field where two manifests differ (None: equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key == "hash":
                continue
            found = first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return next(
            (
                d
                for i, (x, y) in enumerate(zip(a, b, strict=True))
                if (d := first_difference(x, y, f"{path}[{i}]"))
            ),
            None,
        )
    return None if a == b else path or "manifest"


def check_same_manifest(cards: Sequence[tuple[str, dict[str, Any]]]) -> None:
    (first_label, first), *rest = cards
    for label, card in rest:
        if card["manifest"]["hash"] != first["manifest"]["hash"]:
            field = first_difference(first["manifest"]["content"], card["manifest"]["content"])
            raise ValueError(
                f"{label} was run on manifest {card['manifest']['hash'][:12]}, {first_label} on "
                f"{first['manifest']['hash'][:12]}: they differ in `{field}`. Rerun both on one suite version"
            )


def reference_cards(suite: BenchSuite, have: set[str], out_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """Cards of the suite's scripted references no given card covers, played into out_dir/references/."""
    cards = []
    for strategy in suite.references:
        if strategy in have:
            continue
        run_dir = out_dir / "references" / strategy
        run_bench(
            suite, AgentSpec(f"{REFERENCE_PREFIX}{strategy}", strategy=strategy), run_dir, progress=False
        )
        cards.append((str(run_dir / "card.json"), write_card(suite, run_dir)))
    return cards


def _scripted_strategy(card: dict[str, Any]) -> str | None:
    spec = card["model"]["spec"]
    return (spec["strategy"] or spec["name"]) if spec["kind"] == "scripted" else None


def _paired(upper: dict[str, Any], lower: dict[str, Any], resamples: int) -> dict[str, Any]:
    """Upper − lower on the episodes both cards hold."""
    key = lambda row: (row["opponent"], row["role"], row["scenario"])  # noqa: E731
    below = {key(row): row for row in lower["episodes"]}
    pairs = [(row, below[key(row)]) for row in upper["episodes"] if key(row) in below]
    only_upper = sum(a["deal"] and not b["deal"] for a, b in pairs)
    only_lower = sum(b["deal"] and not a["deal"] for a, b in pairs)
    shares = np.array(
        [
            [a["share"] if a["deal"] else 0.0, b["share"] if b["deal"] else 0.0]
            for a, b in pairs
            if a["share"] is not None
        ],
        dtype=float,
    ).reshape(-1, 2)
    result: dict[str, Any] = {
        "pairs": len(pairs),
        "mcnemar_p": stats.mcnemar_exact(only_upper, only_lower).p_value,
    }
    if len(shares) >= 2:
        interval = stats.paired_bootstrap(shares[:, 0], shares[:, 1], resamples=resamples)
        result |= {
            "score_diff": float(np.mean(shares[:, 0] - shares[:, 1])),
            "score_diff_ci": [interval.low, interval.high],
            "permutation_p": stats.paired_permutation_test(shares[:, 0], shares[:, 1]).p_value,
        }
    return result


def build_leaderboard(
    card_paths: Sequence[Path], out_dir: Path, suite_named: Callable[[str], BenchSuite]
) -> dict[str, Any]:
    """`suite_named(version)`: this install's suite of that version, whose hash must be the cards'."""
    given = [(str(path), json.loads(Path(path).read_text(encoding="utf-8"))) for path in card_paths]
    if not given:
        raise ValueError("pass at least one card.json (from `haggle bench run`)")
    check_same_manifest(given)
    suite = suite_named(given[0][1]["manifest"]["version"])
    if manifest(suite)["hash"] != given[0][1]["manifest"]["hash"]:
        check_same_manifest([("this install's suite", {"manifest": _manifest_of(suite)}), given[0]])
    have = {strategy for _, card in given if (strategy := _scripted_strategy(card))}
    cards = given + reference_cards(suite, have, out_dir)
    cards.sort(key=lambda item: -(item[1]["score"]["value"] or 0.0))
    rows = []
    for rank, (label, card) in enumerate(cards, start=1):
        health = card["health"]
        row = {
            "rank": rank,
            "model": card["model"]["name"],
            "reference": _scripted_strategy(card) in suite.references,
            "card": label,
            "score": card["score"]["value"],
            "score_ci": card["score"]["ci"],
            "deal_rate": float(np.mean([row["deal"] for row in card["episodes"]])),
            "invalid_action_rate": health["invalid_action_rate"],
            "irrational_deals": health["irrational_deals"],
            "vs_next": _paired(card, cards[rank][1], suite.bootstrap_resamples)
            if rank < len(cards)
            else None,
        }
        rows.append(row)
    return {
        "schema": LEADERBOARD_SCHEMA,
        "manifest": given[0][1]["manifest"]["hash"],
        "suite": suite.version,
        "rows": rows,
    }


def _manifest_of(suite: BenchSuite) -> dict[str, Any]:
    content = manifest(suite)
    return {"version": suite.version, "hash": content["hash"], "content": content}


def format_leaderboard(data: dict[str, Any]) -> str:
    return (
        "\n\n".join(
            [
                f"# Haggle Bench {data['suite']} leaderboard",
                f"Manifest `{data['manifest']}`. Score: the model's mean share of the gains over every opponent, role "
                "and scenario with gains (no deal = 0), bootstrap 95% interval. Against the next rank, on the same "
                "episodes: score difference with a paired bootstrap 95% interval, sign-flip permutation p on the "
                "shares, exact McNemar p on the deals. Reference rows (ref) are the suite's scripted strategies.",
                table(
                    [
                        "rank",
                        "model",
                        "score [95%]",
                        "deal rate",
                        "invalid actions",
                        "irrational deals",
                        "Δ vs next [95%]",
                        "permutation p",
                        "McNemar p",
                    ],
                    [
                        [
                            str(r["rank"]),
                            r["model"] + (" (ref)" if r["reference"] else ""),
                            ci(r["score"], r["score_ci"]),
                            num(r["deal_rate"]),
                            num(r["invalid_action_rate"]),
                            str(r["irrational_deals"]),
                            ci(v.get("score_diff"), v.get("score_diff_ci")) if (v := r["vs_next"]) else "–",
                            p_value(v.get("permutation_p")) if v else "–",
                            p_value(v["mcnemar_p"]) if v else "–",
                        ]
                        for r in data["rows"]
                    ],
                ),  # fmt: skip
                "![leaderboard](leaderboard.png)",
            ]
        )
        + "\n"
    )


def plot_leaderboard(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [row for row in data["rows"] if row["score"] is not None][::-1]
    figure, axis = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    scores = [row["score"] for row in rows]
    errors = np.array(
        [[row["score"] - row["score_ci"][0], row["score_ci"][1] - row["score"]] for row in rows]
    ).T
    colours = ["tab:grey" if row["reference"] else "tab:blue" for row in rows]
    axis.barh([row["model"] for row in rows], scores, xerr=errors, color=colours, capsize=3)
    axis.set_xlabel("score: mean share of the gains (no deal = 0), 95% interval")
    axis.set_title(
        f"Haggle Bench {data['suite']} ({data['manifest'][:12]})\ngrey: scripted references", fontsize=10
    )
    axis.set_xlim(0, 1)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_leaderboard(
    card_paths: Sequence[Path], out_dir: Path, suite_named: Callable[[str], BenchSuite]
) -> tuple[dict[str, Any], str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = build_leaderboard(card_paths, out_dir, suite_named)
    markdown = format_leaderboard(data)
    (out_dir / "leaderboard.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    (out_dir / "leaderboard.md").write_text(markdown, encoding="utf-8")
    plot_leaderboard(data, out_dir / "leaderboard.png")
    return data, markdown
