"""SQLite adapter of the event store (the local stack), beside the catalog's database."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cellucid_cloud.events.models import BundleRecord, StoredEvent, Viewer
from cellucid_cloud.events.store import BundleQuota, quota_refusal
from cellucid_cloud.events.wire import event_json
from cellucid_cloud.sqlite_db import ThreadConnections

__all__ = ["SqliteEventStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS viewers (
    viewer_id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, doc TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    viewer_id TEXT NOT NULL, seq INTEGER NOT NULL, expires_at INTEGER NOT NULL,
    doc TEXT NOT NULL, PRIMARY KEY (viewer_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_expiry ON events (expires_at);
CREATE TABLE IF NOT EXISTS bundles (
    viewer_id TEXT NOT NULL, request_id TEXT NOT NULL, expires_at INTEGER NOT NULL,
    doc TEXT NOT NULL, PRIMARY KEY (viewer_id, request_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bundle_quota (
    scope TEXT PRIMARY KEY, bundles INTEGER NOT NULL, bytes INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
"""
DAY = 24 * 3600


class SqliteEventStore:
    def __init__(self, path: Path | str) -> None:
        self._db = ThreadConnections(path, SCHEMA)

    def put_viewer(self, viewer: Viewer) -> None:
        self._db().execute(
            "INSERT INTO viewers (viewer_id, expires_at, doc) VALUES (?, ?, ?)",
            (viewer.viewer_id, viewer.expires_at, viewer.model_dump_json()),
        )

    def get_viewer(self, viewer_id: str, now: int) -> Viewer | None:
        row = (
            self._db()
            .execute(
                "SELECT doc FROM viewers WHERE viewer_id = ? AND expires_at > ?", (viewer_id, now)
            )
            .fetchone()
        )
        return None if row is None else Viewer.model_validate_json(row[0])

    def append(self, viewer: Viewer, events: Sequence[dict[str, Any]]) -> int:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            (last,) = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE viewer_id = ?",
                (viewer.viewer_id,),
            ).fetchone()
            db.executemany(
                "INSERT INTO events (viewer_id, seq, expires_at, doc) VALUES (?, ?, ?, ?)",
                [
                    (viewer.viewer_id, last + i, viewer.expires_at, event_json(event))
                    for i, event in enumerate(events, start=1)
                ],
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return int(last) + len(events)

    def read(self, viewer: Viewer, after: int, limit: int) -> list[StoredEvent]:
        rows = self._db().execute(
            "SELECT seq, doc FROM events WHERE viewer_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (viewer.viewer_id, after, limit),
        )
        return [StoredEvent(seq=seq, event=json.loads(doc)) for seq, doc in rows]

    def reserve_bundle(self, viewer: Viewer, size: int, quota: BundleQuota, now: int) -> str | None:
        day = now - now % DAY
        scopes = (f"viewer:{viewer.viewer_id}", f"day:{day}")
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            used = {
                scope: (bundles, count)
                for scope, bundles, count in db.execute(
                    "SELECT scope, bundles, bytes FROM bundle_quota WHERE scope IN (?, ?)", scopes
                )
            }
            bundles, viewer_bytes = used.get(scopes[0], (0, 0))
            refusal = quota_refusal(
                quota, bundles, viewer_bytes, used.get(scopes[1], (0, 0))[1], size
            )
            if refusal is None:
                for scope, expires_at in zip(scopes, (viewer.expires_at, day + DAY), strict=True):
                    db.execute(
                        "INSERT INTO bundle_quota (scope, bundles, bytes, expires_at)"
                        " VALUES (?, 1, ?, ?) ON CONFLICT (scope) DO UPDATE SET"
                        " bundles = bundles + 1, bytes = bytes + excluded.bytes",
                        (scope, size, expires_at),
                    )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return refusal

    def expire(self, now: int) -> list[str]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            keys = [
                BundleRecord.model_validate_json(doc).key
                for (doc,) in db.execute("SELECT doc FROM bundles WHERE expires_at <= ?", (now,))
            ]
            for table in ("bundles", "events", "viewers", "bundle_quota"):
                db.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return keys

    def put_bundle(self, record: BundleRecord) -> None:
        self._db().execute(
            "INSERT OR REPLACE INTO bundles (viewer_id, request_id, expires_at, doc)"
            " VALUES (?, ?, ?, ?)",
            (record.viewer_id, record.request_id, record.expires_at, record.model_dump_json()),
        )

    def bundles(self, viewer: Viewer) -> list[BundleRecord]:
        rows = self._db().execute(
            "SELECT doc FROM bundles WHERE viewer_id = ?", (viewer.viewer_id,)
        )
        return sorted(
            (BundleRecord.model_validate_json(doc) for (doc,) in rows),
            key=lambda r: r.created_at,
        )
