"""The episode store: one database, exactly-once rows, strict JSON, old run directories read, schemas checked."""

import json
import math
import sqlite3

import pytest
from haggle.data.episode_store import (
    EPISODE_SCHEMA,
    EpisodeStore,
    StoreError,
    export_jsonl,
)


def strict_loads(text: str):
    def refuse(constant: str):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_episodes_are_stored_once_and_read_back_with_their_schema(tmp_path):
    store = EpisodeStore(tmp_path / "run")
    store.write({"episode_id": "a1", "outcome": {"deal": True}})
    store.write({"episode_id": "b2", "outcome": {"deal": False}})
    store.write({"episode_id": "a1", "outcome": {"deal": False}})  # a rewrite replaces, never duplicates
    records = list(EpisodeStore(tmp_path / "run").records())
    assert [r["episode_id"] for r in records] == ["a1", "b2"]
    assert all(r["schema"] == EPISODE_SCHEMA for r in records)
    assert records[0]["outcome"] == {"deal": False}
    assert store.completed_ids() == {"a1", "b2"} and store.count() == 2


def test_ten_thousand_episodes_are_a_handful_of_files(tmp_path):
    with EpisodeStore(tmp_path) as store:
        for index in range(10_000):
            store.write({"episode_id": f"e{index:05d}", "outcome": {"deal": index % 2 == 0}})
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(files) <= 10, files
    assert EpisodeStore(tmp_path).count() == 10_000


def test_non_finite_prices_are_stored_as_strict_json_with_the_models_text_kept(tmp_path):
    """Defect 4: a model's `"price": NaN` was stored as a bare NaN, which strict JSON readers refuse."""
    raw = '{"name": "make_offer", "arguments": {"price": NaN}}'
    arguments = {"price": math.nan, "low": -math.inf, "high": math.inf}
    with EpisodeStore(tmp_path) as store:
        store.write({"episode_id": "n1", "turns": [{"move": {"arguments": arguments}, "raw_output": raw}]})
        turn = store.read("n1")["turns"][0]
        assert turn["move"]["arguments"] == {"price": "NaN", "low": "-Infinity", "high": "Infinity"}
        assert turn["raw_output"] == raw  # what the model wrote, verbatim
    (text,) = (
        sqlite3.connect(tmp_path / "episodes" / "episodes.sqlite")
        .execute("SELECT record FROM episodes")
        .fetchone()
    )
    strict_loads(text)
    assert export_jsonl(tmp_path, tmp_path / "out.jsonl") == 1
    assert strict_loads((tmp_path / "out.jsonl").read_text())["episode_id"] == "n1"


def test_an_old_run_directory_of_json_files_is_read_and_imported_once(tmp_path):
    episodes = tmp_path / "episodes"
    episodes.mkdir()
    for name in ("a1", "b2"):
        (episodes / f"{name}.json").write_text(json.dumps({"schema": EPISODE_SCHEMA, "episode_id": name}))
    (episodes / ".c3.json.999999999.tmp").write_text('{"episode_id": "c3", "sche')  # a killed writer's file
    assert [r["episode_id"] for r in EpisodeStore(tmp_path).records()] == ["a1", "b2"]
    assert EpisodeStore(tmp_path).count() == 2  # opened again: nothing imported twice


def test_unknown_schemas_layouts_and_unsafe_ids_are_refused(tmp_path):
    episodes = tmp_path / "episodes"
    episodes.mkdir()
    (episodes / "x.json").write_text(json.dumps({"schema": "haggle.episode/99", "episode_id": "x"}))
    with pytest.raises(StoreError, match="haggle.episode/99"):
        EpisodeStore(tmp_path)
    (episodes / "x.json").unlink()
    store = EpisodeStore(tmp_path)
    with pytest.raises(ValueError, match="episode id"):
        store.write({"episode_id": "../escape"})
    store.close()
    with sqlite3.connect(episodes / "episodes.sqlite") as connection:
        connection.execute("PRAGMA user_version=2")
    with pytest.raises(StoreError, match="store layout 2"):
        EpisodeStore(tmp_path)


def test_error_log_skips_a_line_torn_by_a_kill_and_keeps_the_next(tmp_path):
    store = EpisodeStore(tmp_path)
    store.record_error({"episode_id": "a", "error": "timeout"})
    with store.errors_path.open("a") as handle:
        handle.write('{"schema": "haggle.episode_error/1", "episo')  # killed mid-append
    store.record_error({"episode_id": "b", "error": "HTTP 500"})
    assert [entry["episode_id"] for entry in store.errors()] == ["a", "b"]
