"""Events use cases: register viewers, accept what they post, let token holders follow it.

A viewer is registered by a curator for one dataset version (its cell count bounds every
selection) and expires (24 h by default). Whoever holds the viewer's token may post events,
selections and session bundles, and read them back in arrival order with long polling.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cellucid_cloud.catalog.errors import (
    CatalogError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
)
from cellucid_cloud.catalog.meta import MetaService
from cellucid_cloud.catalog.models import DatasetStatus, DatasetVersion, new_id
from cellucid_cloud.events.bundle import SessionBundle
from cellucid_cloud.events.models import BundleRecord, StoredEvent, Viewer
from cellucid_cloud.events.store import BlobStore, EventStore
from cellucid_cloud.events.wire import WireError, parse_event, parse_selection

__all__ = [
    "DEFAULT_VIEWER_TTL",
    "MAX_BUNDLE_BYTES",
    "MAX_DIRECT_BUNDLE_BYTES",
    "MAX_WAIT",
    "EventsService",
    "Registration",
    "TooLargeError",
]

DEFAULT_VIEWER_TTL = 24 * 3600
MAX_VIEWER_TTL = 7 * 24 * 3600
MAX_DIRECT_BUNDLE_BYTES = 5 * 1000 * 1000
MAX_BUNDLE_BYTES = 2 * 1024**3
MAX_WAIT = 25.0
"""Long polls end within API Gateway's 29 s integration timeout."""
READ_LIMIT = 1000


class TooLargeError(CatalogError):
    status = 413


@dataclass(frozen=True, slots=True)
class Registration:
    viewer: Viewer
    token: str
    viewer_url: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class EventsService:
    def __init__(
        self,
        store: EventStore,
        blobs: BlobStore,
        meta: MetaService,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.meta = meta
        self.clock = clock

    # -- viewers -----------------------------------------------------------------------------

    def register(
        self, curator_id: str, dataset: str, ttl: int = DEFAULT_VIEWER_TTL
    ) -> Registration:
        """A viewer for a dataset (its canonical id, version id or explorer URL)."""
        if not 60 <= ttl <= MAX_VIEWER_TTL:
            raise InvalidRequestError(f"ttl must be between 60 and {MAX_VIEWER_TTL} seconds")
        answer = self.meta.lookup(dataset).value
        if answer is None:
            raise NotFoundError(f"no dataset {dataset}")
        if answer["tombstoned"]:
            raise InvalidRequestError("this dataset was withdrawn")
        version = self.meta.repo.get(DatasetVersion, answer["dataset_version_id"])
        if version is None or version.status is not DatasetStatus.READY or version.stats is None:
            raise InvalidRequestError("the dataset has no ready export yet")
        token = secrets.token_urlsafe(32)
        now = self.clock()
        viewer = Viewer(
            viewer_id=new_id(),
            token_hash=_token_hash(token),
            curator_id=curator_id,
            dataset_id=answer["dataset_id"],
            dataset_version_id=version.version_id,
            n_cells=version.stats.n_cells,
            created_at=datetime.fromtimestamp(now, UTC),
            expires_at=int(now) + ttl,
        )
        self.store.put_viewer(viewer)
        url = f"{answer['explorer_url']}?viewerId={viewer.viewer_id}&viewerToken={token}"
        return Registration(viewer, token, url)

    def viewer(self, viewer_id: str | None, token: str | None) -> Viewer:
        """The viewer these credentials open: 404 unknown or expired, 403 wrong token."""
        if not viewer_id or not token or len(viewer_id) > 64 or len(token) > 200:
            raise InvalidRequestError("viewerId and viewerToken are required")
        viewer = self.store.get_viewer(viewer_id, int(self.clock()))
        if viewer is None:
            raise NotFoundError("unknown or expired viewer")
        if not hmac.compare_digest(viewer.token_hash, _token_hash(token)):
            raise ForbiddenError("wrong viewer token")
        return viewer

    # -- posting -----------------------------------------------------------------------------

    def post_event(self, body: bytes) -> int:
        viewer_id, token, event = parse_event(body)
        viewer = self.viewer(viewer_id, token)
        return self.store.append(viewer, [event])

    def post_selection(
        self, viewer_id: str | None, token: str | None, source: str | None, body: bytes
    ) -> int:
        viewer = self.viewer(viewer_id, token)
        if not source or len(source) > 100:
            raise InvalidRequestError("source is required (e.g. lasso), at most 100 characters")
        if len(body) > 4 * viewer.n_cells:
            raise TooLargeError(f"a selection of this dataset has at most {viewer.n_cells} cells")
        cells = parse_selection(body, viewer.n_cells)
        if cells.size == 0:
            raise InvalidRequestError("a selection has at least one cell")
        event = {"type": "selection", "cells": cells.tolist(), "source": source}
        return self.store.append(viewer, [event])

    def post_bundle(
        self, viewer_id: str | None, token: str | None, request_id: str | None, body: bytes
    ) -> BundleRecord:
        viewer = self.viewer(viewer_id, token)
        if len(body) > MAX_DIRECT_BUNDLE_BYTES:
            raise TooLargeError(
                f"session bundles over {MAX_DIRECT_BUNDLE_BYTES} bytes go through "
                "POST /_cellucid/session_bundle/upload-url"
            )
        return self.accept_bundle(viewer, _request_id(request_id), body)

    def bundle_key(self, viewer: Viewer, request_id: str) -> str:
        return f"sessions/{viewer.viewer_id}/{request_id}.cellucid-session"

    def bundle_upload_key(
        self, viewer_id: str | None, token: str | None, request_id: str | None
    ) -> str:
        """Where a bundle too large to post goes, through an upload URL."""
        return self.bundle_key(self.viewer(viewer_id, token), _request_id(request_id))

    def validate_upload(
        self, key: str, source: BlobStore, *, in_place: bool
    ) -> BundleRecord | None:
        """Check a bundle that arrived through an upload URL: record it, or delete it and say
        why in an event. ``in_place``: it landed in the sessions store itself (the sessions
        bucket on AWS); otherwise it is moved there (the local uploads folder)."""
        parts = key.split("/")
        if len(parts) != 3 or parts[0] != "sessions" or not parts[2].endswith(".cellucid-session"):
            source.delete(key)
            return None
        viewer = self.store.get_viewer(parts[1], int(self.clock()))
        request_id = parts[2].removesuffix(".cellucid-session")
        if viewer is None:
            source.delete(key)
            return None
        data = source.get(key)
        try:
            record = self.accept_bundle(viewer, _request_id(request_id), data, store=not in_place)
        except (WireError, CatalogError) as exc:
            source.delete(key)
            rejected = {
                "type": "session_bundle",
                "requestId": request_id,
                "status": "rejected",
                "reason": str(exc),
            }
            self.store.append(viewer, [rejected])
            return None
        if not in_place:
            source.delete(key)
        return record

    def accept_bundle(
        self, viewer: Viewer, request_id: str, data: bytes, *, store: bool = True
    ) -> BundleRecord:
        """Validate a bundle and record it with a session_bundle event; refuse it otherwise.
        ``store=False``: the bytes are already in the sessions store under its key."""
        bundle = SessionBundle.parse(data)
        key = self.bundle_key(viewer, request_id)
        if store:
            self.blobs.put(key, data)
        record = BundleRecord(
            viewer_id=viewer.viewer_id,
            request_id=request_id,
            key=key,
            bytes=bundle.size,
            version=bundle.version,
            created_at=datetime.fromtimestamp(self.clock(), UTC),
            expires_at=viewer.expires_at,
        )
        self.store.put_bundle(record)
        event = {
            "type": "session_bundle",
            "requestId": request_id,
            "status": "ok",
            "bytes": bundle.size,
        }
        self.store.append(viewer, [event])
        return record

    # -- reading -----------------------------------------------------------------------------

    async def wait_for_events(
        self, viewer: Viewer, after: int, wait: float, poll: float = 0.1
    ) -> tuple[list[StoredEvent], int]:
        """Events after ``after``, waiting up to ``wait`` seconds for the first one."""
        deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)
        while True:
            events = await asyncio.to_thread(self.store.read, viewer, after, READ_LIMIT)
            if events or time.monotonic() >= deadline:
                return events, events[-1].seq if events else after
            await asyncio.sleep(poll)

    def bundles(self, viewer: Viewer) -> list[dict[str, Any]]:
        return [
            {
                "requestId": r.request_id,
                "bytes": r.bytes,
                "version": r.version,
                "created_at": r.created_at.isoformat(),
            }
            for r in self.store.bundles(viewer)
        ]

    def bundle_bytes(self, viewer: Viewer, request_id: str) -> bytes:
        for record in self.store.bundles(viewer):
            if record.request_id == request_id:
                return self.blobs.get(record.key)
        raise NotFoundError(f"no session bundle {request_id} for this viewer")


def _request_id(request_id: str | None) -> str:
    if (
        not request_id
        or len(request_id) > 100
        or not all(c.isalnum() or c in "-_." for c in request_id)
        or request_id.startswith(".")
    ):
        raise InvalidRequestError("requestId is required: letters, digits, - _ . (≤ 100)")
    return request_id
