"""Processing an upload into a new, immutable export — the same on AWS and on one machine.

An upload is an object in the uploads store: ``<collection id>/<dataset id>/<upload id>.h5ad``
(or ``.zarr.zip``) for an upload URL, whose record the catalog made when it issued the URL;
``<collection id>/<dataset id>.h5ad`` for a file put there directly, which the catalog records
when its put is first seen (:meth:`CatalogService.receive_drop`). Either way processing works
on the upload's pending version (``docs/catalog.md``, "Uploads"): a finished upload, or one a
newer upload replaced, is skipped without reading the file, so a redelivered event or a restart
never makes a version again. Processing prepares the export in a scratch folder, stores it under
the new prefix ``exports/<dataset version id>/`` and only then marks the version ready. A file
prepare refuses (or :mod:`~cellucid_cloud.ingest.upload_checks` refuses before it is opened)
marks the version failed with a one-line reason naming the curator's file; the dataset's
previous version keeps serving throughout.

A failure of ours (an error storing the export, the catalog unreachable…) marks the version
failed but ``retryable`` and propagates, so the queue delivers the upload again and the next
claim retries it, up to :data:`~cellucid_cloud.catalog.service.MAX_ATTEMPTS` claims. Each claim
writes to its own prefix (``exports/<id>/``, then ``exports/<id>-2/``…), so no attempt
overwrites another's files (exports stay write-once). An attempt whose storing fails removes
what it stored; one that died while storing leaves a partial prefix, which the next claim
removes: a claimable version is not ready, so no version points to an earlier attempt's
prefix, and an earlier attempt's worker is dead by the time its version is claimed again.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, NamedTuple

from cellucid_cloud.catalog.models import (
    SCHEMA_FIELDS,
    DatasetStats,
    DatasetVersion,
    OntologyTerm,
    Upload,
)
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.core.errors import DomainError
from cellucid_cloud.core.ports import LargeUploads, ObjectStore, PrepareRun
from cellucid_cloud.export.errors import PrepareError
from cellucid_cloud.export.manifests import DatasetIdentity
from cellucid_cloud.export.settings import ExportSettings, read_options

__all__ = [
    "SCRATCH_PREFIX",
    "UPLOAD_SUFFIXES",
    "Arrival",
    "LargeExport",
    "Outcome",
    "Processor",
    "StoredUpload",
    "UploadKey",
    "export_prefix",
    "export_stats",
    "link_failed",
    "reason_line",
    "refusal_reason",
]

UPLOAD_SUFFIXES = (".h5ad", ".zarr.zip")
_ID = r"[A-Za-z0-9][A-Za-z0-9-]{0,63}"
_KEY = re.compile(
    rf"(?P<collection>{_ID})/(?P<dataset>{_ID})(?:/(?P<upload>{_ID}))?"
    r"(?P<suffix>\.h5ad|\.zarr\.zip)"
)

log = logging.getLogger(__name__)


SCRATCH_PREFIX = "cellucid-upload-"
"""Name prefix of the scratch folder each upload is processed in."""
MAX_REASON = 500
"""Characters of a failure reason kept (a reason may quote names from the file)."""


def link_failed(catalog: CatalogService, key: str, link: str, problem: str) -> str:
    """A curator's link for the upload at ``key`` could not be fetched (``problem`` says
    why): the reason, recorded where the curator looks for the status, on the upload's
    version (the upload was accepted with the link). On every host alike."""
    reason = f"{problem} ({link})"
    log.info("link %s for %s failed: %s", link, key, problem)
    parsed = UploadKey.parse(key)
    upload = catalog.upload(parsed.upload_id) if parsed and parsed.upload_id else None
    if upload is None:
        log.warning("link failure for %s not recorded: no such upload", key)
    else:
        catalog.fail_upload(upload, reason)
    return reason


def export_prefix(version_id: str, attempt: int = 1) -> str:
    """Where a claim's export goes: each attempt has its own, so none overwrites another."""
    return f"exports/{version_id}/" if attempt <= 1 else f"exports/{version_id}-{attempt}/"


def reason_line(reason: str) -> str:
    """A reason as the curator reads it: its first line, at most :data:`MAX_REASON` long."""
    lines = reason.strip().splitlines()
    line = lines[0] if lines else "unknown error"
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"


@dataclass(frozen=True, slots=True)
class UploadKey:
    collection_id: str
    dataset_id: str
    upload_id: str | None
    """None for a direct drop's key."""
    suffix: str

    @classmethod
    def parse(cls, key: str) -> UploadKey | None:
        match = _KEY.fullmatch(key)
        if match is None:
            return None
        return cls(match["collection"], match["dataset"], match["upload"], match["suffix"])


@dataclass(frozen=True, slots=True)
class Arrival:
    """An object that appeared in the uploads store, as its event (or a scan) tells it."""

    key: str
    etag: str | None = None
    """What the event says the object holds; None: whatever it holds when read."""
    put: str = ""
    """Which put of the key this is (S3's sequencer; the file's size and mtime)."""
    at: datetime | None = None
    """When the put completed (the event's time; the file's mtime)."""
    sequence: str = ""
    """The store's order among puts to this key at the same instant."""
    upload_id: str | None = None
    """The upload to process again (new export options), rather than the put that came."""


@dataclass(frozen=True, slots=True)
class Outcome:
    key: str
    status: Literal["ready", "failed", "skipped", "refused", "ignored", "distributed"]
    version_id: str | None = None
    reason: str | None = None


class StoredUpload(NamedTuple):
    """An upload as stored: what the distributed export reads it by."""

    etag: str
    size: int
    modified: datetime


@dataclass(frozen=True, slots=True)
class LargeExport:
    """A claimed version whose upload the distributed export reads."""

    version_id: str
    attempt: int
    key: str
    upload: StoredUpload
    file_name: str
    """What reasons call the file (the curator's name for it)."""
    export_prefix: str
    settings: ExportSettings


class Processor:
    def __init__(
        self,
        catalog: CatalogService,
        uploads: ObjectStore,
        exports: ObjectStore,
        settings: ExportSettings | None = None,
        scratch: Path | None = None,
        reclaim_before: datetime | None = None,
        *,
        run: PrepareRun,
        large: LargeUploads | None = None,
    ) -> None:
        self.catalog = catalog
        self.large = large
        self.uploads = uploads
        self.exports = exports
        self.settings = settings or ExportSettings()
        self.scratch = scratch
        self.run = run
        self.reclaim_before = reclaim_before
        """Versions still ``processing`` since before this time belong to a dead worker."""

    def process(self, arrival: Arrival | str) -> Outcome:
        """Handle one upload event. Unexpected errors mark the version failed and retryable and
        propagate (so a queue can retry or dead-letter the message); the version never stays
        stuck. A file that exhausts memory fails for good: retrying it would only do it again."""
        if isinstance(arrival, str):
            arrival = Arrival(arrival)
        key = arrival.key
        parsed = UploadKey.parse(key)
        if parsed is None:
            return Outcome(
                key, "ignored", reason="not <collection_id>/<dataset_id>[/<upload_id>].h5ad"
            )
        try:
            upload = self._upload(parsed, arrival)
        except DomainError as exc:
            log.warning("upload %s ignored: %s", key, exc)
            return Outcome(key, "ignored", reason=str(exc))
        if upload is None:
            log.warning("upload %s ignored: no upload URL was issued for it", key)
            return Outcome(key, "ignored", reason="no upload URL was issued for this key")
        if upload.refused:
            log.info("upload %s refused: %s", key, upload.refused)
            return Outcome(key, "refused", reason=upload.refused)
        pending = self.catalog.pending_version(upload, self.reclaim_before)
        if pending is None:
            newest = upload.versions[-1] if upload.versions else None
            return Outcome(key, "skipped", newest, reason="already processed or replaced")
        if self.large is not None and (stored := self.large.inspect(key, parsed.suffix)):
            return self._distribute(arrival, parsed, upload, pending, stored)
        with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX, dir=self.scratch) as tmp:
            local = Path(tmp) / f"upload{parsed.suffix}"
            try:
                etag = self.uploads.fetch(key, local)
            except FileNotFoundError:
                if self.uploads.exists(key):
                    raise
                reason = f"{_shown(pending, key)}: the file was deleted before it was read"
                self.catalog.fail_upload(upload, reason)
                return Outcome(key, "failed", pending.version_id, reason=reason)
            claimed = self._claim(arrival, parsed, upload, pending, etag)
            if isinstance(claimed, Outcome):
                return claimed
            try:
                return self._prepare(key, parsed, claimed, local, etag)
            except MemoryError:
                return self._refuse(key, claimed, "the file needs more memory than processing has")
            except Exception as exc:
                self._failed(claimed, exc)
                raise

    def _claim(
        self,
        arrival: Arrival,
        parsed: UploadKey,
        upload: Upload,
        pending: DatasetVersion,
        etag: str,
    ) -> DatasetVersion | Outcome:
        """Claim ``pending`` for the file read at ``etag``; the outcome instead when a direct
        drop's key holds other bytes than its event announced (failed), or another worker
        claimed it (skipped). Earlier attempts' prefixes go: their workers are dead."""
        if arrival.etag and etag != arrival.etag and parsed.upload_id is None:
            reason = f"{arrival.key}: replaced by a newer file before it was read"
            self.catalog.fail_upload(upload, reason)
            return Outcome(arrival.key, "failed", pending.version_id, reason=reason)
        claimed = self.catalog.start_processing(pending.version_id, self.reclaim_before)
        if claimed is None:
            return Outcome(arrival.key, "skipped", pending.version_id, reason="already processed")
        for attempt in range(1, claimed.attempts):  # earlier attempts: dead, never ready
            self.exports.delete_prefix(export_prefix(claimed.version_id, attempt))
        return claimed

    def _failed(self, version: DatasetVersion, error: Exception) -> None:
        self.catalog.finish_processing(
            version.version_id,
            reason=reason_line(f"internal error while processing: {error}"),
            retryable=True,
        )

    def _settings(self, version: DatasetVersion, upload: UploadKey) -> ExportSettings:
        """This host's settings with the curator's export options and the dataset's names."""
        return self.settings.with_options(read_options(version.export_options)).model_copy(
            update={"dataset_id": upload.dataset_id, "name": version.name or None}
        )

    def _distribute(
        self,
        arrival: Arrival,
        parsed: UploadKey,
        upload: Upload,
        pending: DatasetVersion,
        stored: StoredUpload,
    ) -> Outcome:
        """Claim the version and hand the upload to the distributed export, which finishes
        the version (ready, or failed with the reason) itself."""
        assert self.large is not None
        key = arrival.key
        claimed = self._claim(arrival, parsed, upload, pending, stored.etag)
        if isinstance(claimed, Outcome):
            return claimed
        try:
            settings = self._settings(claimed, parsed)
        except PrepareError as exc:
            return self._refuse(key, claimed, str(exc))
        export = LargeExport(
            version_id=claimed.version_id,
            attempt=claimed.attempts,
            key=key,
            upload=stored,
            file_name=_shown(claimed, key),
            export_prefix=export_prefix(claimed.version_id, claimed.attempts),
            settings=settings,
        )
        try:
            self.large.start(export)
        except Exception as exc:
            self._failed(claimed, exc)
            raise
        log.info("upload %s: distributed export of attempt %d started", key, claimed.attempts)
        return Outcome(key, "distributed", claimed.version_id)

    def _upload(self, parsed: UploadKey, arrival: Arrival) -> Upload | None:
        upload_id = arrival.upload_id or parsed.upload_id
        if upload_id is not None:
            upload = self.catalog.upload(upload_id)
            return upload if upload is not None and upload.object_key == arrival.key else None
        at = arrival.at or datetime.now(UTC)
        put = arrival.put or arrival.etag or at.isoformat()
        return self.catalog.receive_drop(
            arrival.key,
            parsed.collection_id,
            parsed.dataset_id,
            put=put,
            at=at,
            sequence=arrival.sequence,
        )

    def _prepare(
        self, key: str, upload: UploadKey, version: DatasetVersion, local: Path, etag: str
    ) -> Outcome:
        out = local.parent / "export"
        try:
            identity = self.run(local, out, upload.suffix, self._settings(version, upload))
        except PrepareError as exc:
            # The curator's name for the file, not our scratch path.
            return self._refuse(key, version, str(exc).replace(str(local), _shown(version, key)))
        prefix = export_prefix(version.version_id, version.attempts)
        try:
            size = self.exports.put_folder(prefix, out)
        except Exception:
            self._discard(prefix)
            raise
        stats = export_stats(identity, size, local.stat().st_size)
        self.catalog.finish_processing(
            version.version_id, export_prefix=prefix, stats=stats, etag=etag
        )
        log.info("upload %s ready at %s", key, prefix)
        return Outcome(key, "ready", version.version_id)

    def _discard(self, prefix: str) -> None:
        """Remove a partly stored export (nothing points to it yet), as well as the store lets
        us now: what stays is removed by the version's next claim."""
        try:
            self.exports.delete_prefix(prefix)
        except Exception:
            log.warning("partial export %s left for the next claim", prefix, exc_info=True)

    def _refuse(self, key: str, version: DatasetVersion, reason: str) -> Outcome:
        reason = refusal_reason(_shown(version, key), reason)
        self.catalog.finish_processing(version.version_id, reason=reason)
        log.info("upload %s failed: %s", key, reason)
        return Outcome(key, "failed", version.version_id, reason=reason)


def refusal_reason(shown: str, reason: str) -> str:
    """Why a file was refused, one line, naming the file as the curator knows it."""
    reason = reason_line(reason)
    return reason if reason.startswith(shown) else reason_line(f"{shown}: {reason}")


def export_stats(identity: DatasetIdentity, size: int, source_bytes: int) -> DatasetStats:
    """The catalog's figures of an export (what the collection pages show)."""
    terms = identity.ontology_terms or {}
    return DatasetStats(
        name=identity.name,
        n_cells=identity.stats.n_cells,
        n_genes=identity.stats.n_genes,
        bytes=size,
        source_bytes=source_bytes,
        **{
            field: tuple(OntologyTerm(**t.model_dump()) for t in terms.get(field, ()))
            for field in SCHEMA_FIELDS
        },
    )


def _shown(version: DatasetVersion, key: str) -> str:
    """The file as the curator knows it: the name they uploaded, else the key they put."""
    return version.file_name or key
