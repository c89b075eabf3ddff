"""The event store port: viewers, per-viewer event logs in arrival order, session bundles.

Expiry is lazy in DynamoDB (TTL deletes within days), so reads never trust it: a viewer is
looked up together with the time, and events and bundles expire with their viewer. Sequence
numbers are dense per viewer (1, 2, 3...), which is what makes ``after=<cursor>`` reads lose
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, BinaryIO, Protocol

from cellucid_cloud.events.models import BundleRecord, StoredEvent, Viewer

__all__ = ["BlobStore", "EventStore"]


class EventStore(Protocol):
    def put_viewer(self, viewer: Viewer) -> None: ...

    def get_viewer(self, viewer_id: str, now: int) -> Viewer | None:
        """The viewer, unless unknown or expired at ``now`` (Unix seconds)."""
        ...

    def append(self, viewer: Viewer, events: Sequence[dict[str, Any]]) -> int:
        """Store events after the viewer's last ones, in order; returns the last sequence
        number. Events expire with the viewer."""
        ...

    def read(self, viewer: Viewer, after: int, limit: int) -> list[StoredEvent]:
        """Events with sequence numbers above ``after``, oldest first, at most ``limit``."""
        ...

    def put_bundle(self, record: BundleRecord) -> None: ...

    def bundles(self, viewer: Viewer) -> list[BundleRecord]:
        """The viewer's session bundles, oldest first."""
        ...


class BlobStore(Protocol):
    """Where session bundle bytes live (a folder locally, the sessions bucket on AWS)."""

    def put(self, key: str, data: bytes | BinaryIO) -> None:
        """Store bytes, or a stream's bytes read as it goes (a bundle too large to hold)."""
        ...

    def get(self, key: str) -> bytes: ...

    def open(self, key: str) -> BinaryIO:
        """The bytes as a stream to read once (bundles too large to hold); FileNotFoundError
        if there are none."""
        ...

    def delete(self, key: str) -> None: ...

    def download_url(self, key: str, file_name: str, expires_in: int) -> str | None:
        """A URL that hands the blob out as ``file_name`` for ``expires_in`` seconds, or None
        when this store's blobs are served through us (a folder)."""
        ...
