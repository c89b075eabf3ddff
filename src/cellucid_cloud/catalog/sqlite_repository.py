"""SQLite adapter of the catalog repository: the local stack's catalog, one file.

Each record is one row ``(kind, key) → JSON document`` with its revision; two indexed columns
serve the collection listings. A commit runs in one ``BEGIN IMMEDIATE`` transaction, so its
conditions are checked and its writes applied with no other writer in between, across threads
and processes (WAL mode lets readers carry on meanwhile).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from cellucid_cloud.catalog.models import Collection, StoredRecord
from cellucid_cloud.catalog.repository import ConflictError, Delete, Put, Write, check_writes
from cellucid_cloud.sqlite_db import ThreadConnections

__all__ = ["SqliteCatalogRepository"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    rev INTEGER NOT NULL,
    owner TEXT,
    published INTEGER,
    doc TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_owner ON records (owner, key) WHERE owner IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_published ON records (published, key)
    WHERE published IS NOT NULL;
"""


class SqliteCatalogRepository:
    """Thread-safe: each thread gets its own connection to the database file."""

    def __init__(self, path: Path | str) -> None:
        self._connect = ThreadConnections(path, SCHEMA)

    def get[R: StoredRecord](self, kind: type[R], key: str) -> R | None:
        row = (
            self._connect()
            .execute("SELECT rev, doc FROM records WHERE kind = ? AND key = ?", (kind.KIND, key))
            .fetchone()
        )
        return None if row is None else _load(kind, row)

    def get_many[R: StoredRecord](self, kind: type[R], keys: Iterable[str]) -> dict[str, R]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, R] = {}
        db = self._connect()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT key, rev, doc FROM records WHERE kind = ? AND key IN ({marks})",
                (kind.KIND, *chunk),
            )
            for key, rev, doc in rows:
                found[key] = _load(kind, (rev, doc))
        return found

    def collections_of(self, owner: str) -> list[Collection]:
        rows = self._connect().execute(
            "SELECT rev, doc FROM records WHERE owner = ? AND kind = ? ORDER BY key",
            (owner, Collection.KIND),
        )
        return [_load(Collection, row) for row in rows]

    def published_collections(self) -> list[Collection]:
        rows = self._connect().execute(
            "SELECT rev, doc FROM records WHERE published = 1 AND kind = ? ORDER BY key",
            (Collection.KIND,),
        )
        return [_load(Collection, row) for row in rows]

    def commit(self, writes: Sequence[Write]) -> None:
        check_writes(writes)
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            for write in writes:
                _apply(db, write)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        self._connect.close()


def _load[R: StoredRecord](kind: type[R], row: tuple[int, str]) -> R:
    rev, doc = row
    return kind.model_validate_json(doc).model_copy(update={"rev": rev})


def _apply(db: sqlite3.Connection, write: Write) -> None:
    record = write.record
    where = (record.KIND, record.key)
    stored = db.execute("SELECT rev FROM records WHERE kind = ? AND key = ?", where).fetchone()
    if isinstance(write, Delete):
        if stored is None or stored[0] != record.rev:
            raise ConflictError(f"{record.KIND} {record.key} changed or is gone")
        db.execute("DELETE FROM records WHERE kind = ? AND key = ?", where)
        return
    expected_absent = isinstance(write, Put) and write.create
    if (stored is not None) if expected_absent else (stored is None or stored[0] != record.rev):
        raise ConflictError(f"{record.KIND} {record.key} changed or already exists")
    rev = record.rev + 1
    owner = record.owner if isinstance(record, Collection) else None
    published = (1 if record.is_published else 0) if isinstance(record, Collection) else None
    doc = record.model_copy(update={"rev": rev}).model_dump_json()
    db.execute(
        "INSERT OR REPLACE INTO records (kind, key, rev, owner, published, doc)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (*where, rev, owner, published, doc),
    )
