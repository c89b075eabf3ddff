"""Events use cases: register viewers, accept what they post, let token holders follow it.

A viewer is registered by a curator for one dataset version (its cell count bounds every
selection) and expires (24 h by default). Whoever holds the viewer's token may post events,
selections and session bundles, and read them back in arrival order with long polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import io
import secrets
import string
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from cellucid_cloud.catalog.documents import TombstoneAnswer
from cellucid_cloud.catalog.meta import MetaService
from cellucid_cloud.catalog.models import DatasetStatus, new_id
from cellucid_cloud.core.errors import (
    DomainError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    TooLargeError,
)
from cellucid_cloud.core.ports import BlobStore, EventStore, Timer, UploadUrls
from cellucid_cloud.events.bundle import BundleFrame, check_bundle
from cellucid_cloud.events.models import BundleRecord, StoredEvent, Viewer
from cellucid_cloud.events.store import BundleQuota, quota_refusal
from cellucid_cloud.events.wire import WireError, event_json, parse_event, parse_selection
from cellucid_cloud.storage.downloads import MAX_DOWNLOAD_URL_SECONDS
from cellucid_cloud.storage.upload_urls import UploadUrl, UploadUrlError

__all__ = [
    "CURSOR_PATTERN",
    "DEFAULT_VIEWER_TTL",
    "MAX_BUNDLE_BYTES",
    "MAX_CURSOR_LENGTH",
    "MAX_DIRECT_BUNDLE_BYTES",
    "MAX_PARAM_LENGTH",
    "MAX_STORED_EVENT_BYTES",
    "MAX_WAIT",
    "BundleDownload",
    "EventsService",
    "Registration",
    "ViewerRequest",
]

DEFAULT_VIEWER_TTL = 24 * 3600
MAX_VIEWER_TTL = 7 * 24 * 3600
MAX_DIRECT_BUNDLE_BYTES = 4_500_000
"""A posted bundle's limit: on AWS the body arrives base64-encoded in the Lambda event, which
holds 6 MB (6,291,456 bytes) at most; 4.5 MB is 6,000,000 bytes encoded, leaving 291 kB for the
rest of the event. Larger bundles go through an upload URL."""
MAX_BUNDLE_BYTES = 2 * 1024**3
MAX_STORED_EVENT_BYTES = 400_000
"""An event as stored (its JSON without the credentials): a DynamoDB item holds 400 KiB, so a
larger event, though under the 1 MiB a post may carry, is refused on every host alike."""
MAX_WAIT = 25.0
"""Long polls end within API Gateway's 29 s integration timeout."""
READ_LIMIT = 1000
MAX_PARAM_LENGTH = 200
"""Longest viewerId, viewerToken, source or requestId query parameter."""
CURSOR_PATTERN = r"^[0-9]+$"
MAX_CURSOR_LENGTH = 18
"""Digits of a cursor: every such number fits the stores' signed 64-bit sequence numbers."""


class ViewerRequest(BaseModel):
    """``POST /_cellucid/viewers`` body."""

    model_config = ConfigDict(extra="forbid")
    dataset_id: Annotated[str, Field(min_length=1, max_length=2048)]
    """A canonical dataset id, a dataset version id, or an explorer URL."""
    ttl_seconds: int = DEFAULT_VIEWER_TTL


@dataclass(frozen=True, slots=True)
class BundleDownload:
    """A stored bundle to hand out: a short-lived URL of the store when it has one, else the
    bytes."""

    request_id: str
    url: str | None = None
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class Registration:
    viewer: Viewer
    token: str
    viewer_url: str

    def answer(self) -> dict[str, str]:
        """What the registration route returns (the token is shown only here)."""
        return {
            "viewerId": self.viewer.viewer_id,
            "viewerToken": self.token,
            "viewer_url": self.viewer_url,
            "expires_at": datetime.fromtimestamp(self.viewer.expires_at, UTC).isoformat(),
        }


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class EventsService:
    def __init__(
        self,
        store: EventStore,
        blobs: BlobStore,
        meta: MetaService,
        clock: Timer = time.time,
        quota: BundleQuota | None = None,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.meta = meta
        self.clock = clock
        self.quota = quota or BundleQuota()
        self._next_expiry = 0.0

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
        if isinstance(answer, TombstoneAnswer):
            raise InvalidRequestError("this dataset was withdrawn")
        version = self.meta.dataset_version(answer.dataset_version_id)
        if version is None or version.status is not DatasetStatus.READY or version.stats is None:
            raise InvalidRequestError("the dataset has no ready export yet")
        token = secrets.token_urlsafe(32)
        now = self.clock()
        viewer = Viewer(
            viewer_id=new_id(),
            token_hash=_token_hash(token),
            curator_id=curator_id,
            dataset_id=answer.dataset_id,
            dataset_version_id=version.version_id,
            n_cells=version.stats.n_cells,
            created_at=datetime.fromtimestamp(now, UTC),
            expires_at=int(now) + ttl,
        )
        self.store.put_viewer(viewer)
        url = f"{answer.explorer_url}?viewerId={viewer.viewer_id}&viewerToken={token}"
        return Registration(viewer, token, url)

    def expire(self) -> None:
        """Remove what expired with its viewer — events, bundle records and quota counts, and
        the bundles' blobs — at most once a minute (each token-checked request asks)."""
        now = self.clock()
        if now < self._next_expiry:
            return
        self._next_expiry = now + 60
        for key in self.store.expire(int(now)):
            self.blobs.delete(key)

    def live_viewer(self, viewer_id: str) -> Viewer | None:
        """The viewer, unless unknown or expired."""
        return self.store.get_viewer(viewer_id, int(self.clock()))

    def viewer(self, viewer_id: str | None, token: str | None) -> Viewer:
        """The viewer these credentials open: 404 unknown or expired, 403 wrong token."""
        self.expire()
        if not viewer_id or not token or len(viewer_id) > 64 or len(token) > 200:
            raise InvalidRequestError("viewerId and viewerToken are required")
        viewer = self.live_viewer(viewer_id)
        if viewer is None:
            raise NotFoundError("unknown or expired viewer")
        if not hmac.compare_digest(viewer.token_hash, _token_hash(token)):
            raise ForbiddenError("wrong viewer token")
        return viewer

    # -- posting -----------------------------------------------------------------------------

    def post_event(self, body: bytes) -> int:
        viewer_id, token, event = parse_event(body)
        viewer = self.viewer(viewer_id, token)
        stored = len(event_json(event).encode())
        if stored > MAX_STORED_EVENT_BYTES:
            raise TooLargeError(
                f"the event takes {stored:,} bytes stored; at most {MAX_STORED_EVENT_BYTES:,}"
            )
        return self.store.append(viewer, [event])

    def post_selection(self, viewer: Viewer, source: str | None, body: bytes) -> int:
        """A selection of ``viewer`` (whose credentials :meth:`viewer` checked)."""
        if not source or len(source) > 100:
            raise InvalidRequestError("source is required (e.g. lasso), at most 100 characters")
        if len(body) > 4 * viewer.n_cells:
            raise TooLargeError(f"a selection of this dataset has at most {viewer.n_cells} cells")
        cells = parse_selection(body, viewer.n_cells)
        if cells.size == 0:
            raise InvalidRequestError("a selection has at least one cell")
        event = {"type": "selection", "cells": cells.tolist(), "source": source}
        return self.store.append(viewer, [event])

    def post_bundle(self, viewer: Viewer, request_id: str | None, body: bytes) -> BundleRecord:
        """A bundle posted by ``viewer`` (whose credentials :meth:`viewer` checked)."""
        if len(body) > MAX_DIRECT_BUNDLE_BYTES:
            raise TooLargeError(
                f"session bundles over {MAX_DIRECT_BUNDLE_BYTES} bytes go through "
                "POST /_cellucid/session_bundle/upload-url"
            )
        return self.accept_bundle(viewer, _request_id(request_id), body)

    def bundle_key(self, viewer: Viewer, request_id: str) -> str:
        return f"sessions/{viewer.viewer_id}/{request_id}.cellucid-session"

    def bundle_upload_url(
        self,
        uploads: UploadUrls,
        viewer: Viewer,
        request_id: str | None,
        size: int | None,
        expires_in: int,
    ) -> UploadUrl:
        """A URL for one PUT of a bundle too large to post (``size`` bytes, counted against
        the quotas now); the bundle is validated when it arrives (:meth:`validate_upload`)."""
        key = self.bundle_key(viewer, _request_id(request_id))
        if size is None:
            raise InvalidRequestError("size is required: the bundle's length in bytes")
        self._reserve(viewer, size)
        try:
            return uploads.upload_url(
                key, max_bytes=MAX_BUNDLE_BYTES, expires_in=expires_in, size=size
            )
        except UploadUrlError as exc:
            raise InvalidRequestError(str(exc)) from None

    def validate_upload(
        self, key: str, source: BlobStore, *, in_place: bool
    ) -> BundleRecord | None:
        """Check a bundle that arrived through an upload URL: record it, or delete it and say
        why in an event. It is read as a stream, so memory stays small whatever its size.
        ``in_place``: it landed in the sessions store itself (the sessions bucket on AWS);
        otherwise it is moved there (the local uploads folder)."""
        parts = key.split("/")
        if len(parts) != 3 or parts[0] != "sessions" or not parts[2].endswith(".cellucid-session"):
            source.delete(key)
            return None
        viewer = self.live_viewer(parts[1])
        if viewer is None:
            source.delete(key)
            return None
        request_id = parts[2].removesuffix(".cellucid-session")
        try:
            request_id = _request_id(request_id)
            with contextlib.closing(source.open(key)) as stream:
                frame = check_bundle(stream)
        except FileNotFoundError:  # a second notification of an upload already refused
            return None
        except (WireError, DomainError) as exc:
            source.delete(key)
            rejected = {
                "type": "session_bundle",
                "requestId": request_id,
                "status": "rejected",
                "reason": str(exc),
            }
            self.store.append(viewer, [rejected])
            return None
        if in_place:  # the same notification twice (S3's are at least once) records it once
            for known in self.store.bundles(viewer):
                if known.key == key and known.bytes == frame.size:
                    return known
        else:
            with contextlib.closing(source.open(key)) as stream:
                self.blobs.put(self.bundle_key(viewer, request_id), stream)
            source.delete(key)
        return self._record(viewer, request_id, frame)

    def accept_bundle(self, viewer: Viewer, request_id: str, data: bytes) -> BundleRecord:
        """Validate a posted bundle, count it against the quotas, store it and record it;
        refuse it otherwise."""
        frame = check_bundle(io.BytesIO(data))
        self._reserve(viewer, len(data))
        self.blobs.put(self.bundle_key(viewer, request_id), data)
        return self._record(viewer, request_id, frame)

    def _reserve(self, viewer: Viewer, size: int) -> None:
        """Count a bundle of ``size`` bytes against the viewer's and the deployment's quotas
        (413 when over); a bundle arriving through a URL is counted when the URL is issued."""
        refusal = quota_refusal(self.quota, 0, 0, 0, size) or self.store.reserve_bundle(
            viewer, size, self.quota, int(self.clock())
        )
        if refusal is not None:
            raise TooLargeError(refusal)

    def _record(self, viewer: Viewer, request_id: str, frame: BundleFrame) -> BundleRecord:
        """A checked bundle, now in the sessions store: its record and session_bundle event."""
        record = BundleRecord(
            viewer_id=viewer.viewer_id,
            request_id=request_id,
            key=self.bundle_key(viewer, request_id),
            bytes=frame.size,
            version=frame.version,
            created_at=datetime.fromtimestamp(self.clock(), UTC),
            expires_at=viewer.expires_at,
        )
        self.store.put_bundle(record)
        event = {
            "type": "session_bundle",
            "requestId": request_id,
            "status": "ok",
            "bytes": frame.size,
        }
        self.store.append(viewer, [event])
        return record

    # -- reading -----------------------------------------------------------------------------

    def events_after(self, viewer: Viewer, after: int) -> tuple[list[StoredEvent], int]:
        """The events after the cursor (at most :data:`READ_LIMIT`) and the next cursor."""
        events = self.store.read(viewer, after, READ_LIMIT)
        return events, events[-1].seq if events else after

    async def wait_for_events(
        self, viewer: Viewer, after: int, wait: float, poll: float = 0.1
    ) -> tuple[list[StoredEvent], int]:
        """Events after ``after``, waiting up to ``wait`` seconds for the first one; a server
        with an event loop keeps it free while it waits."""
        deadline = _deadline(wait)
        while True:
            events, cursor = await asyncio.to_thread(self.events_after, viewer, after)
            if events or time.monotonic() >= deadline:
                return events, cursor
            await asyncio.sleep(poll)

    def follow(
        self, viewer: Viewer, after: int, wait: float, poll: float = 0.1
    ) -> tuple[list[StoredEvent], int]:
        """:meth:`wait_for_events` for a host that serves one request per process (Lambda)."""
        deadline = _deadline(wait)
        while True:
            events, cursor = self.events_after(viewer, after)
            if events or time.monotonic() >= deadline:
                return events, cursor
            time.sleep(poll)

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

    def bundle_download(self, viewer: Viewer, request_id: str) -> BundleDownload:
        """A stored bundle: a short-lived URL of the store when it has one (the sessions
        bucket: a Lambda response holds 6 MB at most), else the bytes."""
        request_id = _request_id(request_id)
        for record in self.store.bundles(viewer):
            if record.request_id == request_id:
                url = self.blobs.download_url(
                    record.key, f"{request_id}.cellucid-session", MAX_DOWNLOAD_URL_SECONDS
                )
                if url is not None:
                    return BundleDownload(request_id, url=url)
                return BundleDownload(request_id, data=self.blobs.get(record.key))
        raise NotFoundError(f"no session bundle {request_id} for this viewer")


def _deadline(wait: float) -> float:
    return time.monotonic() + min(max(wait, 0.0), MAX_WAIT)


def _request_id(request_id: str | None) -> str:
    """A request id as keys and ``Content-Disposition`` can carry it: ASCII letters, digits,
    ``-_.`` (``жж`` would make the download's header impossible to encode)."""
    if (
        not request_id
        or len(request_id) > 100
        or not all(c in _REQUEST_ID_CHARACTERS for c in request_id)
        or request_id.startswith(".")
    ):
        raise InvalidRequestError("requestId is required: ASCII letters, digits, - _ . (≤ 100)")
    return request_id


_REQUEST_ID_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_.")
