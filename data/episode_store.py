"""A run directory's episodes, never lost or duplicated, whatever kills the process, however many processes write.

Layout (every record carries a `schema` field; readers refuse schemas they do not know; `data.run_directory`
adds run.json, what was run):
    RUN_DIR/episodes/episodes.sqlite   haggle.episode/1 records, one row per finished episode id, in SQLite's WAL
                                       mode (-wal and -shm files sit beside it while a process has it open)
    RUN_DIR/errors.jsonl               haggle.episode_error/1: one line per failed attempt (append-only; a line
                                       torn by a kill is skipped)
One row per episode id, written in one transaction, makes "completed" a query and "exactly once" a primary key:
a commit is whole or absent after kill -9, and several worker processes write to it at once while others read.
A store of 10,000 episodes is one database file, not 10,000 files that cluster file systems punish.
Run directories written before the database existed (RUN_DIR/episodes/<id>.json) are imported into it when opened;
their JSON files are left untouched and are no longer read. `export_jsonl` writes the episodes out for users.
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

EPISODE_SCHEMA = "haggle.episode/1"
ERROR_SCHEMA = "haggle.episode_error/1"
DATABASE_NAME = "episodes.sqlite"
_LAYOUT_VERSION = 1  # PRAGMA user_version of the database: its tables, not the records' schema
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_BUSY_TIMEOUT_MS = 60_000  # other worker processes hold the write lock for one short commit at a time


class StoreError(RuntimeError):
    """A run directory holds something this version cannot read."""


def atomic_write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def check_schema(record: dict[str, Any], expected: str, where: str) -> None:
    schema = record.get("schema")
    if schema != expected:
        raise StoreError(
            f"{where}: schema {schema!r}, but this version of Haggle reads {expected!r}; "
            "use the Haggle version that wrote it, or start a new run directory"
        )


def strict_json(record: Any) -> str:
    """JSON that strict readers accept: a NaN or infinite number (a model's `"price": NaN`) is stored as its text,
    "NaN", "Infinity" or "-Infinity"; what the model wrote is kept verbatim in the turn's raw output."""
    try:
        return json.dumps(record, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(record), ensure_ascii=False, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _check_id(episode_id: Any) -> str:
    if not isinstance(episode_id, str) or not _SAFE_ID.match(episode_id):
        raise ValueError(f"episode id {episode_id!r} must be 1-128 letters, digits, '_', '.' or '-'")
    return episode_id


class EpisodeStore:
    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.episode_dir = self.run_dir / "episodes"
        self.database_path = self.episode_dir / DATABASE_NAME
        self.errors_path = self.run_dir / "errors.jsonl"
        self.episode_dir.mkdir(parents=True, exist_ok=True)
        self._connection = self._connect()
        self._import_legacy_files()

    def _connect(self) -> sqlite3.Connection:
        # Autocommit: every statement below is its own transaction. One connection per process; the job runner
        # writes from its event loop thread, readers may sit in other threads.
        connection = sqlite3.connect(
            self.database_path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > _LAYOUT_VERSION:
            connection.close()
            raise StoreError(
                f"{self.database_path}: store layout {version}, but this version of Haggle reads "
                f"{_LAYOUT_VERSION}; use the Haggle version that wrote it, or start a new run directory"
            )
        if version < _LAYOUT_VERSION:
            connection.execute("PRAGMA journal_mode=WAL")  # persistent: many readers beside one writer
            connection.execute(
                "CREATE TABLE IF NOT EXISTS episodes (id TEXT PRIMARY KEY, record TEXT NOT NULL)"
            )
            connection.execute(f"PRAGMA user_version={_LAYOUT_VERSION}")
        # NORMAL: a commit survives kill -9 of the process (the WAL is in the page cache); power loss may drop the
        # last commits, never corrupt the file, and those episodes are played again by the resume.
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    def _import_legacy_files(self) -> None:
        """A run directory from before the database: its episode files go into it in one transaction."""
        legacy = [path for path in self.episode_dir.glob("*.json") if not path.name.startswith(".")]
        stored = self.completed_ids() if legacy else set()
        missing = [path for path in legacy if path.stem not in stored]
        if not missing:
            return
        rows = []
        for path in missing:
            record = json.loads(path.read_text(encoding="utf-8"))
            check_schema(record, EPISODE_SCHEMA, str(path))
            rows.append((_check_id(record.get("episode_id")), strict_json(record)))
        self._connection.execute(
            "BEGIN IMMEDIATE"
        )  # all or nothing: a kill mid-import leaves the files to import
        try:
            self._connection.executemany("INSERT OR IGNORE INTO episodes (id, record) VALUES (?, ?)", rows)
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    def close(self) -> None:
        """Close the database (the last process to close it folds the -wal file back in and removes it)."""
        self._connection.close()

    def __enter__(self) -> EpisodeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- episodes --------------------------------------------------------------------------------------------
    def completed_ids(self) -> set[str]:
        return {row[0] for row in self._connection.execute("SELECT id FROM episodes")}

    def count(self) -> int:
        return int(self._connection.execute("SELECT count(*) FROM episodes").fetchone()[0])

    def write(self, record: dict[str, Any]) -> None:
        """Store one finished episode in one commit (a second write of the same id replaces the first)."""
        episode_id = _check_id(record.get("episode_id"))
        record = {"schema": EPISODE_SCHEMA, **record}
        check_schema(record, EPISODE_SCHEMA, f"episode {episode_id}")
        self._connection.execute(
            "INSERT INTO episodes (id, record) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record",
            (episode_id, strict_json(record)),
        )

    def read(self, episode_id: str) -> dict[str, Any]:
        row = self._connection.execute(
            "SELECT record FROM episodes WHERE id = ?", (_check_id(episode_id),)
        ).fetchone()
        if row is None:
            raise KeyError(f"episode {episode_id} is not in {self.database_path}")
        return self._parse(episode_id, row[0])

    def records(self) -> Iterator[dict[str, Any]]:
        """Every finished episode, each exactly once, in episode-id order."""
        for episode_id, text in self._connection.execute("SELECT id, record FROM episodes ORDER BY id"):
            yield self._parse(episode_id, text)

    def _parse(self, episode_id: str, text: str) -> dict[str, Any]:
        record = json.loads(text)
        check_schema(record, EPISODE_SCHEMA, f"{self.database_path}: episode {episode_id}")
        return record

    # -- failed attempts -------------------------------------------------------------------------------------
    def record_error(self, entry: dict[str, Any]) -> None:
        line = strict_json({"schema": ERROR_SCHEMA, **entry}) + "\n"
        with self.errors_path.open("a+b") as handle:
            if handle.tell() > 0:  # a line torn by a kill must not swallow this one
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    line = "\n" + line
            handle.write(line.encode("utf-8"))

    def errors(self) -> list[dict[str, Any]]:
        if not self.errors_path.is_file():
            return []
        entries = []
        for line in self.errors_path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # torn by a kill mid-append
            check_schema(entry, ERROR_SCHEMA, str(self.errors_path))
            entries.append(entry)
        return entries


def export_jsonl(run_dir: str | Path, path: str | Path) -> int:
    """Write a run directory's episodes as JSON Lines (one strict-JSON record a line, in id order); the count."""
    count = 0
    with EpisodeStore(run_dir) as store, Path(path).open("w", encoding="utf-8") as handle:
        for record in store.records():
            handle.write(strict_json(record) + "\n")
            count += 1
    return count
