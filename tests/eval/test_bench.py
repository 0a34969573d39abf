"""Haggle Bench: pinned manifests, identical cards on reruns, a prompt change moving the hash, the leaderboard."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from haggle.env import actions, prompts
from haggle.eval.bench_card import comparable
from haggle.eval.bench_leaderboard import write_leaderboard
from haggle.eval.bench_suite import manifest

from haggle.cli import main
from haggle.commands.bench import load_suite

# Changing a suite (or a prompt, the rules' defaults, the eval schema) without a new version fails here: freeze it
# as configs/bench/vN.yaml and pin the new hash instead.
PINNED = {
    "v1": "2422763c31e5e77cf8a2e4e19f14662e72a309f2ce09d20099ba8f5334b69872",
    "v1-negmas": "6da5db578b0ced7bd79c7d63a35b06b16ed3961ca62e28a3134c28e91fe97659",
}


@pytest.mark.parametrize("version", sorted(PINNED))
def test_each_suite_version_keeps_its_hash(version: str) -> None:
    assert manifest(load_suite(version))["hash"] == PINNED[version]


def test_a_reworded_prompt_changes_the_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    suite = load_suite("v1")
    before = manifest(suite)["hash"]
    original = prompts.system_prompt
    monkeypatch.setattr(
        prompts, "system_prompt", lambda view, suffix=None: original(view, suffix) + " Be nice."
    )
    reworded = manifest(suite)["hash"]
    monkeypatch.undo()
    spec = actions.ACTION_SPECS[actions.MAKE_OFFER]
    monkeypatch.setitem(
        actions.ACTION_SPECS, actions.MAKE_OFFER, replace(spec, description=spec.description + "!")
    )
    retooled = manifest(suite)["hash"]
    assert len({before, reworded, retooled}) == 3


def _bench(tmp_path: Path, model: str, out: str, suite: str = "v1") -> dict:
    assert (
        main(
            [
                "bench",
                "run",
                "--suite",
                suite,
                "--model",
                model,
                "--out",
                str(tmp_path / out),
                "--no-progress",
            ]
        )
        == 0
    )
    return json.loads((tmp_path / out / "card.json").read_text())


def test_two_runs_of_the_same_model_give_the_same_card(tmp_path: Path) -> None:
    first, second = _bench(tmp_path, "conceder", "a"), _bench(tmp_path, "conceder", "b")
    assert comparable(first) == comparable(second)
    assert first["card_hash"] == second["card_hash"]
    assert first["manifest"]["hash"] == PINNED["v1"]
    assert {cell["tier"] for cell in first["cells"]} == {"10", "100", "1k", "10k", "100k", "all"}
    assert first["episodes_stored"] == first["episodes_planned"] == 100
    assert first["health"]["invalid_action_rate"] == 0


def test_a_leaderboard_ranks_references_and_refuses_another_manifest(tmp_path: Path) -> None:
    cards = [tmp_path / name / "card.json" for name in ("hardliner", "random")]
    for card in cards:
        _bench(tmp_path, card.parent.name, card.parent.name)
    assert main(["bench", "leaderboard", *map(str, cards), "--out", str(tmp_path / "board")]) == 0
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    names = [row["model"] for row in board["rows"]]
    assert sorted(names) == sorted(
        [
            "ref-hardliner",
            "ref-random",
            *(f"ref-{s}" for s in ("boulware", "conceder", "linear", "tit_for_tat")),
        ]
    )
    scores = [row["score"] for row in board["rows"]]
    assert scores == sorted(scores, reverse=True)
    assert all(row["vs_next"]["pairs"] == 100 for row in board["rows"][:-1])
    assert (tmp_path / "board" / "leaderboard.png").stat().st_size > 0

    other = json.loads(cards[0].read_text())
    other["manifest"]["hash"] = "0" * 64
    other["manifest"]["content"]["prompt_version"] = "99"
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match="differ in `prompt_version`"):
        write_leaderboard([cards[1], tmp_path / "other.json"], tmp_path / "x", load_suite)
