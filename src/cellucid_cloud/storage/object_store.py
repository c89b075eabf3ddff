"""The object-store port: what the catalog's processing needs from S3 or a local folder."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

__all__ = ["EXPORT_CACHE_CONTROL", "ObjectStore", "content_type"]

EXPORT_CACHE_CONTROL = "public, max-age=31536000, immutable"
"""Export prefixes are never rewritten (a new upload gets a new prefix), so caches keep them."""


def content_type(key: str) -> str:
    return "application/json" if key.endswith(".json") else "application/octet-stream"


class ObjectStore(Protocol):
    def uri(self, key: str) -> str:
        """A location others can use and may see (``s3://bucket/key``; locally the URL path
        the server serves the key at, never a path on its disk)."""
        ...

    def put_folder(self, prefix: str, folder: Path) -> int:
        """Store every file under ``folder`` at ``prefix`` + its relative path, with immutable
        caching; returns the bytes stored. The prefix must be new: exports are never
        overwritten. A reader never sees a partial folder at a prefix the catalog points to,
        because the catalog points there only after this returns."""
        ...

    def fetch(self, key: str, destination: Path) -> str:
        """Copy an object to a local file; returns its ETag (content identity)."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under ``prefix`` (a failed attempt's partial export, which no
        version points to); nothing there is no error."""
        ...
