"""One SQLite database file used from many threads and processes, as the local stack's
adapters (the catalog repository, the event store) use theirs.

A connection may not cross threads, so each thread opens its own; WAL mode lets readers carry
on while one writer commits, and a writer waits up to 30 s for another's lock. Autocommit
(``isolation_level=None``): an adapter opens its own ``BEGIN IMMEDIATE`` where it needs one.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

__all__ = ["ThreadConnections"]


class ThreadConnections:
    """Calling it gives the calling thread's connection to ``path`` (created with ``schema``)."""

    def __init__(self, path: Path | str, schema: str) -> None:
        self.path = str(path)
        self._local = threading.local()
        self().executescript(schema)

    def __call__(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def close(self) -> None:
        """Close the calling thread's connection, if it opened one."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
