"""The local stack's parts, wired from one data directory.

``DATA_DIR`` holds everything, so a restart loses nothing and a backup is one copy::

    catalog.sqlite3   the catalog (SQLite adapter of the repository port)
    secret            the token-signing secret (mode 600, made on first start)
    curator.key       the first curator's API key (mode 600, made on first start)
    uploads/          the uploads "bucket": <collection_id>/<dataset_id>/<upload_id>.h5ad from
                      upload URLs, <collection_id>/<dataset_id>.h5ad dropped in directly
    multipart/        multipart uploads until completed (then renamed into uploads/)
    exports/          the exports "bucket": <dataset_version_id>/ (never rewritten)
    events.sqlite3    viewers, their events and session bundle records (expire with viewers)
    sessions/         the sessions "bucket": <viewer_id>/<request_id>.cellucid-session
    work/             scratch space for processing (a crash's leftovers are removed at start)
    upload-claims/    one marker per upload URL used: each takes one PUT (15 minutes)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from cellucid_cloud.api.auth import Authenticator, new_secret
from cellucid_cloud.api.context import ApiContext
from cellucid_cloud.catalog.models import utcnow
from cellucid_cloud.catalog.processing import SCRATCH_PREFIX, Processor, UploadKey
from cellucid_cloud.catalog.sqlite_repository import SqliteCatalogRepository
from cellucid_cloud.core.ports import Ports
from cellucid_cloud.core.services import Site, build_services
from cellucid_cloud.events.sqlite_store import SqliteEventStore
from cellucid_cloud.export import ExportSettings
from cellucid_cloud.local.link_ingest import LocalLinkIngest
from cellucid_cloud.local.permissions import private_data_dir
from cellucid_cloud.local.prepare_process import ChildPrepare, ProcessLimits
from cellucid_cloud.local.upload_claims import UploadClaims
from cellucid_cloud.local.worker import UploadWorker
from cellucid_cloud.storage.filesystem import FilesystemDownloads, FilesystemObjectStore
from cellucid_cloud.storage.local_multipart import LocalMultipartUploads
from cellucid_cloud.storage.local_upload_urls import LocalUploadUrls

__all__ = ["LocalStack", "StackSettings", "local_ports"]

FIRST_CURATOR = "local-curator"


@dataclass(frozen=True)
class StackSettings:
    data_dir: Path
    base_url: str
    """The URL users open (``http://127.0.0.1:8765``); explorer URLs are built from it."""
    meta_ttl: float = 60.0
    meta_miss_ttl: float = 5.0
    token_ttl: int = 3600
    poll_interval: float = 1.0
    allow_private_links: bool = False
    max_upload_bytes: int = 20 * 1024**3
    export: ExportSettings = field(default_factory=ExportSettings)
    processing: ProcessLimits = field(default_factory=ProcessLimits)
    """Memory and time each upload's processing child may use (docs/up.md)."""


def local_ports(
    data: Path, upload_urls: LocalUploadUrls, on_upload: Callable[[str], None]
) -> Ports:
    """The local composition root: every port in one data directory (the module docstring
    lists where), upload URLs signed by ``upload_urls``, ``on_upload`` told of each upload
    that completes in parts."""
    uploads = FilesystemObjectStore(data / "uploads")
    exports = FilesystemObjectStore(data)
    return Ports(
        catalog=SqliteCatalogRepository(data / "catalog.sqlite3"),
        uploads=uploads,
        exports=exports,
        upload_urls=upload_urls,
        multipart=LocalMultipartUploads(data / "multipart", uploads, upload_urls, on_upload),
        downloads=FilesystemDownloads(uploads),
        events=SqliteEventStore(data / "events.sqlite3"),
        sessions=exports,
        session_upload_urls=upload_urls,
    )


class LocalStack:
    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        data = settings.data_dir.resolve()
        private_data_dir(data)
        for sub in ("uploads", "exports", "work"):
            (data / sub).mkdir(parents=True, exist_ok=True)
        _remove_leftovers(data)
        self.data_dir = data
        secret = _private_file(data / "secret", new_secret)
        self.upload_urls = LocalUploadUrls(settings.base_url, secret)
        self.ports = local_ports(data, self.upload_urls, self.on_upload)
        uploads, exports, multipart = self.ports.uploads, self.ports.exports, self.ports.multipart
        assert isinstance(uploads, FilesystemObjectStore)  # local_ports' adapters
        assert isinstance(exports, FilesystemObjectStore)
        assert isinstance(multipart, LocalMultipartUploads)
        self.repository, self.uploads, self.exports = self.ports.catalog, uploads, exports
        services = build_services(
            self.ports,
            Site(settings.base_url, settings.meta_ttl, settings.meta_miss_ttl),
            transfer_grace=timedelta(0),
        )
        self.catalog, self.meta, self.events = services.catalog, services.meta, services.events
        self.auth = Authenticator(self.repository, secret, token_ttl=settings.token_ttl)
        self.upload_claims = UploadClaims(data / "upload-claims")
        self.multipart = multipart
        self.multipart.remove_expired()
        self.prepare_child = ChildPrepare(settings.processing)
        self.processor = Processor(
            self.catalog,
            self.uploads,
            self.exports,
            settings.export,
            scratch=data / "work",
            reclaim_before=utcnow(),
            run=self.prepare_child,
        )
        self.worker = UploadWorker(self.processor, data / "uploads", settings.poll_interval)
        self.links = LocalLinkIngest(
            self.catalog,
            data / "uploads",
            self.worker.submit,
            max_bytes=settings.max_upload_bytes,
            allow_private=settings.allow_private_links,
        )
        self.events.expire()  # what expired while up was stopped
        self.api_context = ApiContext(
            catalog=self.catalog,
            meta=self.meta,
            auth=self.auth,
            uploads=self.upload_urls,
            links=self.links,
            downloads=self.ports.downloads,
            reprocessing=self.worker,
            multipart=self.multipart,
            events=self.events,
            session_uploads=self.ports.session_upload_urls,
            allow_private_links=settings.allow_private_links,
            max_upload_bytes=settings.max_upload_bytes,
        )
        self.curator_key_file = data / "curator.key"
        self.new_curator_key = not self.curator_key_file.exists()
        self.curator_key = _private_file(
            self.curator_key_file, lambda: self.auth.create_api_key(FIRST_CURATOR, "first start")
        )

    def upload_refusal(self, key: str) -> str | None:
        """Why an upload URL for ``key`` takes no file any more, or None: what it was issued
        for is gone (its viewer expired; its dataset was removed, a newer upload replaced it,
        or its file already arrived)."""
        if key.startswith("sessions/"):
            viewer = self.events.live_viewer(key.split("/")[1])
            return None if viewer is not None else "this upload URL's viewer has expired"
        parsed = UploadKey.parse(key)
        upload = self.catalog.upload(parsed.upload_id) if parsed and parsed.upload_id else None
        if upload is None or upload.refused or self.catalog.pending_version(upload) is None:
            return (
                "this upload URL is no longer in use: its dataset was removed, a newer upload "
                "replaced it, or its file has arrived"
            )
        return None

    def on_upload(self, key: str) -> None:
        """A PUT through an upload URL (or a multipart upload) completed: a session bundle is
        validated now (it is small work); a dataset's upload is marked arrived, so it is not
        failed as abandoned while it waits, and goes to the processing worker."""
        if key.startswith("sessions/"):
            self.events.validate_upload(key, self.uploads, in_place=False)
            return
        parsed = UploadKey.parse(key)
        if parsed is not None and parsed.upload_id is not None:
            self.catalog.file_arrived(parsed.upload_id)
        self.worker.submit(key)


def _remove_leftovers(data: Path) -> None:
    """A killed process leaves behind its scratch folders, half-copied export folders and
    half-written uploads and session bundles (hidden names the catalog never points to and
    nothing reads; one ``up`` runs per data directory). Unfinished multipart uploads expire
    on their own (``storage/local_multipart.py``)."""
    leftovers = [
        *(data / "work").glob(SCRATCH_PREFIX + "*"),
        *(data / "exports").glob(".staging-*"),
        *(data / "uploads").rglob(".incoming-*"),
        *(data / "sessions").rglob(".incoming-*"),
    ]
    for leftover in leftovers:
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _private_file(path: Path, make: Callable[[], str]) -> str:
    """The file's content, creating it with ``make()`` and mode 600 if it does not exist."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value
