"""The event store port: viewers, per-viewer event logs in arrival order, session bundles.

Expiry is lazy in DynamoDB (TTL deletes within days), so reads never trust it: a viewer is
looked up together with the time, and events and bundles expire with their viewer. Sequence
numbers are dense per viewer (1, 2, 3...), which is what makes ``after=<cursor>`` reads lose
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from cellucid_cloud.events.models import BundleRecord, StoredEvent, Viewer

__all__ = ["BlobStore", "BundleQuota", "EventStore", "quota_refusal"]


@dataclass(frozen=True, slots=True)
class BundleQuota:
    """What session bundles may take (docs/events.md, "Quotas"): per viewer over its life,
    and per deployment per UTC day. Bundles live as long as their viewer (at most 7 days),
    so the stored total stays under 8 days' worth."""

    viewer_bundles: int = 20
    viewer_bytes: int = 4 * 1024**3
    daily_bytes: int = 50 * 1024**3


def quota_refusal(
    quota: BundleQuota, bundles: int, viewer_bytes: int, day_bytes: int, size: int
) -> str | None:
    """Why one more bundle of ``size`` bytes does not fit what is counted, or None."""
    if bundles >= quota.viewer_bundles:
        return f"this viewer has stored its {quota.viewer_bundles} session bundles"
    if viewer_bytes + size > quota.viewer_bytes:
        return (
            f"this viewer's session bundles would take {viewer_bytes + size:,} bytes, more than "
            f"its {quota.viewer_bytes:,}"
        )
    if day_bytes + size > quota.daily_bytes:
        return (
            f"this deployment has taken its {quota.daily_bytes:,} bytes of session bundles "
            "for today (UTC); try again tomorrow"
        )
    return None


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

    def reserve_bundle(self, viewer: Viewer, size: int, quota: BundleQuota, now: int) -> str | None:
        """Count one bundle of ``size`` bytes against the viewer's quota and the deployment's
        for the UTC day of ``now``, atomically; None when it fits (it is then counted), else
        why it does not (nothing is counted)."""
        ...

    def expire(self, now: int) -> list[str]:
        """Remove the records of viewers expired at ``now``, with their events, bundle records
        and quota counts; the keys of their bundles' blobs, for the caller to delete. A store
        that expires items by itself (DynamoDB's TTL) returns none: the sessions bucket's
        lifecycle rule removes the blobs."""
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
