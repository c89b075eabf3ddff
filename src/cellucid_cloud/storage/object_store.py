"""How every object store (:class:`~cellucid_cloud.core.ports.ObjectStore`) stores an export's
files."""

from __future__ import annotations

__all__ = ["EXPORT_CACHE_CONTROL", "content_type"]

EXPORT_CACHE_CONTROL = "public, max-age=31536000, immutable"
"""Export prefixes are never rewritten (a new upload gets a new prefix), so caches keep them."""


def content_type(key: str) -> str:
    return "application/json" if key.endswith(".json") else "application/octet-stream"
