"""The run directory: atomic episodes, exactly-once reads, torn files ignored, schemas checked."""

import json

import pytest
from haggle.data.episode_store import EPISODE_SCHEMA, EpisodeStore, StoreError


def test_episodes_are_stored_once_and_read_back_with_their_schema(tmp_path):
    store = EpisodeStore(tmp_path / "run")
    store.write({"episode_id": "a1", "outcome": {"deal": True}})
    store.write({"episode_id": "b2", "outcome": {"deal": False}})
    store.write({"episode_id": "a1", "outcome": {"deal": False}})  # a rewrite replaces, never duplicates
    records = list(EpisodeStore(tmp_path / "run").records())
    assert [r["episode_id"] for r in records] == ["a1", "b2"]
    assert all(r["schema"] == EPISODE_SCHEMA for r in records)
    assert records[0]["outcome"] == {"deal": False}
    assert store.completed_ids() == {"a1", "b2"}


def test_a_write_torn_by_a_kill_leaves_no_episode_and_its_temporary_file_is_cleaned(tmp_path):
    store = EpisodeStore(tmp_path)
    torn = store.episode_dir / ".c3.json.999999999.tmp"  # a dead writer's temporary file, half written
    torn.write_text('{"episode_id": "c3", "sche')
    assert store.completed_ids() == set()
    EpisodeStore(tmp_path)
    assert not torn.exists()


def test_unknown_schemas_and_unsafe_ids_are_refused(tmp_path):
    store = EpisodeStore(tmp_path)
    (store.episode_dir / "x.json").write_text(json.dumps({"schema": "haggle.episode/99", "episode_id": "x"}))
    with pytest.raises(StoreError, match="haggle.episode/99"):
        list(store.records())
    with pytest.raises(ValueError, match="episode id"):
        store.write({"episode_id": "../escape"})


def test_error_log_skips_a_line_torn_by_a_kill_and_keeps_the_next(tmp_path):
    store = EpisodeStore(tmp_path)
    store.record_error({"episode_id": "a", "error": "timeout"})
    with store.errors_path.open("a") as handle:
        handle.write('{"schema": "haggle.episode_error/1", "episo')  # killed mid-append
    store.record_error({"episode_id": "b", "error": "HTTP 500"})
    assert [entry["episode_id"] for entry in store.errors()] == ["a", "b"]
