"""Every port of the core: what its services need from the world, each a ``typing.Protocol``.

Adapters implement them by technology (docs/architecture.md lists which) and each port's
contract suite in ``tests/contract`` runs against every adapter. The records and values a port
speaks in stay with their domain (catalog records, events, upload URLs); the hosts choose the
adapters in one place each (their composition root).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:
    from cellucid_cloud.catalog.models import Collection, StoredRecord
    from cellucid_cloud.catalog.processing import LargeExport, StoredUpload
    from cellucid_cloud.catalog.repository import Write
    from cellucid_cloud.events.models import BundleRecord, StoredEvent, Viewer
    from cellucid_cloud.events.store import BundleQuota
    from cellucid_cloud.export.manifests import DatasetIdentity
    from cellucid_cloud.export.settings import ExportSettings
    from cellucid_cloud.storage.downloads import OpenFile, Redirect
    from cellucid_cloud.storage.multipart import Part, PartPlan, PartUrl
    from cellucid_cloud.storage.upload_urls import UploadUrl

__all__ = [
    "BlobStore",
    "ByteRanges",
    "CatalogRepository",
    "Clock",
    "EventStore",
    "Executions",
    "LargeUploads",
    "LinkIngest",
    "MultipartUploads",
    "ObjectStore",
    "Objects",
    "OriginalDownloads",
    "Ports",
    "PrepareRun",
    "Reprocessing",
    "Timer",
    "UploadUrls",
]

Clock = Callable[[], datetime]
"""Now, as an aware UTC datetime: what records are stamped with and expire by."""
Timer = Callable[[], float]
"""Seconds: ``time.monotonic`` for caches, ``time.time`` where seconds are stored (events)."""


# -- catalog ---------------------------------------------------------------------------------


class CatalogRepository(Protocol):
    """Keyed storage of catalog records and one atomic, conditional commit
    (:mod:`~cellucid_cloud.catalog.repository`)."""

    def get[R: StoredRecord](self, kind: type[R], key: str) -> R | None:
        """The record, read strongly consistent, or None."""
        ...

    def get_many[R: StoredRecord](self, kind: type[R], keys: Iterable[str]) -> dict[str, R]:
        """The records that exist among ``keys``, by key."""
        ...

    def collections_of(self, owner: str) -> list[Collection]:
        """The collections a curator owns, by collection id."""
        ...

    def published_collections(self) -> list[Collection]:
        """The collections with a published version, by collection id."""
        ...

    def commit(self, writes: Sequence[Write]) -> None:
        """Apply every write or none. Raises :class:`ConflictError` when a condition fails and
        :class:`TooManyWritesError` beyond :data:`MAX_WRITES` writes or with a key twice."""
        ...


# -- files ---------------------------------------------------------------------------------------


class ObjectStore(Protocol):
    """The uploads and exports buckets: S3, or folders on one machine."""

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


class UploadUrls(Protocol):
    """URLs that take one PUT of a file for one key, briefly
    (:mod:`~cellucid_cloud.storage.upload_urls`)."""

    def upload_url(
        self, key: str, *, max_bytes: int, expires_in: int, size: int | None = None
    ) -> UploadUrl:
        """A URL for one PUT of at most ``max_bytes`` to ``key``. ``size`` is the length the
        curator declared, if any; an adapter that must sign the exact length (S3) refuses a
        request without it."""
        ...


class MultipartUploads(Protocol):
    """A large file sent as numbered parts (:mod:`~cellucid_cloud.storage.multipart`)."""

    def start_multipart(self, key: str, plan: PartPlan) -> str:
        """Begin an upload of ``plan.size`` bytes to ``key``; returns the store's id for it."""
        ...

    def part_urls(
        self, key: str, multipart_id: str, parts: Sequence[Part], *, expires_in: int
    ) -> list[PartUrl]:
        """URLs for the given parts (planned by :meth:`PartPlan.parts`), each capped at its
        exact length."""
        ...

    def complete_multipart(
        self, key: str, multipart_id: str, plan: PartPlan, etags: Mapping[int, str]
    ) -> None:
        """Assemble every part into the object at ``key`` (which then counts as uploaded);
        :class:`MultipartError` when a part is missing or its ETag does not match."""
        ...

    def abort_multipart(self, key: str, multipart_id: str) -> bool:
        """Drop the parts sent so far; False (not an error) when there was no unfinished
        upload to drop (unknown, completed, or aborted already)."""
        ...


class OriginalDownloads(Protocol):
    """Uploaded originals handed out while unchanged (:mod:`~cellucid_cloud.storage.downloads`)."""

    def locate(self, key: str, etag: str, file_name: str) -> OpenFile | Redirect | None:
        """The original under ``key`` if it still has ``etag``; None when it is gone or was
        replaced."""
        ...


class LinkIngest(Protocol):
    def ingest(self, link: str, key: str) -> None:
        """Fetch ``link`` into the uploads store at ``key`` in the background; the upload is
        then processed like any other. A link that cannot be fetched ends as a failed version
        with the reason."""
        ...


class Reprocessing(Protocol):
    def reprocess(self, key: str, upload_id: str, etag: str | None) -> None:
        """Process the upload ``upload_id`` (its file at ``key``, holding ``etag``) again in
        the background: the catalog made it a new pending version (new export options)."""
        ...


class PrepareRun(Protocol):
    """The export engine as processing uses it: an upload read into an export folder. A refused
    file raises :class:`~cellucid_cloud.export.errors.PrepareError` with the reason. Implemented
    by :func:`~cellucid_cloud.ingest.engine.check_and_prepare`, in this process (AWS) or in a
    limited child process (``up``)."""

    def __call__(
        self, upload: Path, out: Path, suffix: str, settings: ExportSettings
    ) -> DatasetIdentity: ...


class LargeUploads(Protocol):
    """Uploads too large for one worker go to the distributed export (on AWS, a state
    machine; :mod:`cellucid_cloud.distributed`) instead of being read by :class:`PrepareRun`.
    Implemented by :class:`~cellucid_cloud.distributed.route.DistributedExport`."""

    def inspect(self, key: str, suffix: str) -> StoredUpload | None:
        """The stored upload if it is too large for one worker, else None (process it there;
        also when it is gone, which processing there reports)."""
        ...

    def start(self, export: LargeExport) -> None:
        """Start the export; it records its own result in the catalog."""
        ...


# -- the distributed export's steps (:mod:`~cellucid_cloud.distributed`): S3 on AWS -----------


class ByteRanges(Protocol):
    """One stored object read by byte ranges, pinned to the version first seen: a replaced
    object is an error, never a mix of two files."""

    @property
    def size(self) -> int: ...

    def read(self, start: int, stop: int) -> bytes:
        """Bytes ``start`` to ``stop`` (exclusive)."""
        ...


class Objects(Protocol):
    """One bucket, as the steps of the distributed export use it."""

    def put(self, key: str, data: bytes, *, create_only: bool = False) -> None:
        """Store ``data`` at ``key``. ``create_only``: never replace an object (S3's
        ``If-None-Match: *``); the same bytes stored again (a retried step) are no error,
        other bytes raise :class:`FileExistsError`."""
        ...

    def put_parts(self, key: str, parts: Sequence[memoryview]) -> None:
        """Store the concatenation of ``parts`` (a spill shard) without joining them."""
        ...

    def get(self, key: str) -> bytes:
        """An object's bytes; :class:`FileNotFoundError` when there is none."""
        ...

    def get_range(self, key: str, start: int, stop: int) -> bytes: ...

    def sizes(self, prefix: str) -> dict[str, int]:
        """Every object under ``prefix``: key -> size."""
        ...

    def delete_prefix(self, prefix: str) -> None: ...

    def head(self, key: str) -> StoredUpload:
        """An object's ETag, size and time; :class:`FileNotFoundError` when there is none."""
        ...

    def ranges(self, key: str, etag: str) -> ByteRanges:
        """The object at ``key`` as it is at ``etag``, read by ranges."""
        ...


class Executions(Protocol):
    """Starts the distributed export (a Step Functions state machine on AWS)."""

    def start(self, name: str, document: str) -> None:
        """Start an execution called ``name`` (unique per attempt: starting the same one again
        is no error) with the JSON ``document`` as its input."""
        ...


# -- events --------------------------------------------------------------------------------------


class EventStore(Protocol):
    """Viewers, their events in arrival order and their session bundles
    (:mod:`~cellucid_cloud.events.store`)."""

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


# -- the bundle --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ports:
    """One adapter per port: what a host chooses in its composition root (``aws_ports``,
    ``local_ports``). The session parts are None on a host that keeps no sessions."""

    catalog: CatalogRepository
    uploads: ObjectStore
    exports: ObjectStore
    upload_urls: UploadUrls
    multipart: MultipartUploads
    downloads: OriginalDownloads
    events: EventStore | None = None
    sessions: BlobStore | None = None
    session_upload_urls: UploadUrls | None = None
    """Where viewers PUT session bundles too large to post."""
