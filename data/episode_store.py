"""A run directory's episodes, never lost or duplicated, whatever kills the process.

Layout (every file carries a `schema` field; readers refuse schemas they do not know; `data.run_directory`
adds run.json, what was run):
    RUN_DIR/episodes/<id>.json     haggle.episode/1: one finished episode, written to a temporary file, flushed
                                   and renamed into place, so it is either whole or absent
    RUN_DIR/errors.jsonl           haggle.episode_error/1: one line per failed attempt (append-only; a line torn
                                   by a kill is skipped)
One file per episode makes "completed" a directory listing and "exactly once" a property of the file system.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

EPISODE_SCHEMA = "haggle.episode/1"
ERROR_SCHEMA = "haggle.episode_error/1"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class StoreError(RuntimeError):
    """A run directory holds something this version cannot read."""


def atomic_write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_schema(record: dict[str, Any], expected: str, where: str) -> None:
    schema = record.get("schema")
    if schema != expected:
        raise StoreError(
            f"{where}: schema {schema!r}, but this version of Haggle reads {expected!r}; "
            "use the Haggle version that wrote it, or start a new run directory"
        )


class EpisodeStore:
    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.episode_dir = self.run_dir / "episodes"
        self.errors_path = self.run_dir / "errors.jsonl"
        self.episode_dir.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temporaries()

    def _remove_stale_temporaries(self) -> None:
        """Temporary files of writers that were killed mid-write: never read, removed here."""
        for path in self.episode_dir.glob(".*.tmp"):
            pid = path.suffixes[-2].lstrip(".") if len(path.suffixes) >= 2 else ""
            if pid.isdigit() and not _alive(int(pid)):
                path.unlink(missing_ok=True)

    # -- episodes --------------------------------------------------------------------------------------------
    def _path(self, episode_id: str) -> Path:
        if not isinstance(episode_id, str) or not _SAFE_ID.match(episode_id):
            raise ValueError(f"episode id {episode_id!r} must be 1-128 letters, digits, '_', '.' or '-'")
        return self.episode_dir / f"{episode_id}.json"

    def completed_ids(self) -> set[str]:
        return {path.stem for path in self.episode_dir.glob("*.json") if not path.name.startswith(".")}

    def write(self, record: dict[str, Any]) -> None:
        """Store one finished episode atomically (a second write of the same id replaces the first)."""
        path = self._path(record.get("episode_id"))  # type: ignore[arg-type]
        record = {"schema": EPISODE_SCHEMA, **record}
        check_schema(record, EPISODE_SCHEMA, f"episode {record['episode_id']}")
        atomic_write(path, json.dumps(record, ensure_ascii=False))

    def read(self, episode_id: str) -> dict[str, Any]:
        path = self._path(episode_id)
        record = json.loads(path.read_text(encoding="utf-8"))
        check_schema(record, EPISODE_SCHEMA, str(path))
        return record

    def records(self) -> Iterator[dict[str, Any]]:
        """Every finished episode, each exactly once, in episode-id order."""
        for episode_id in sorted(self.completed_ids()):
            yield self.read(episode_id)

    # -- failed attempts -------------------------------------------------------------------------------------
    def record_error(self, entry: dict[str, Any]) -> None:
        line = json.dumps({"schema": ERROR_SCHEMA, **entry}, ensure_ascii=False) + "\n"
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
