"""Processing an upload into a new, immutable export — the same on AWS and on one machine.

An upload is an object ``<collection id>/<dataset id>.h5ad`` (or ``.zarr.zip``) in the uploads
store. Processing records a new dataset version for it (the same one again if the same bytes
arrive twice: object events are at-least-once), prepares the export in a scratch folder, stores
it under the new prefix ``exports/<dataset version id>/`` and only then marks the version ready.
A file prepare refuses (or :mod:`~cellucid_cloud.catalog.upload_checks` refuses before it is
opened) marks the version failed with a one-line reason; the dataset's previous version keeps
serving throughout.

A failure of ours (an error storing the export, the catalog unreachable…) marks the version
failed but ``retryable`` and propagates, so the queue delivers the upload again and the next
claim retries it, up to :data:`~cellucid_cloud.catalog.service.MAX_ATTEMPTS` claims. Each claim
writes to its own prefix (``exports/<id>/``, then ``exports/<id>-2/``…): an attempt that died
half-way through storing leaves a partial prefix that nothing points to, and the retry neither
overwrites it nor needs to delete anything (exports stay write-once).
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from cellucid_cloud.catalog.errors import CatalogError
from cellucid_cloud.catalog.models import SCHEMA_FIELDS, DatasetStats, DatasetVersion, OntologyTerm
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.catalog.upload_checks import check_upload
from cellucid_cloud.export import ExportSettings, PrepareError, prepare
from cellucid_cloud.export.manifests import DatasetIdentity
from cellucid_cloud.storage.object_store import ObjectStore

__all__ = [
    "SCRATCH_PREFIX",
    "UPLOAD_SUFFIXES",
    "Outcome",
    "Processor",
    "UploadKey",
    "check_and_prepare",
    "export_prefix",
]

UPLOAD_SUFFIXES = (".h5ad", ".zarr.zip")
_KEY = re.compile(
    r"(?P<collection>[A-Za-z0-9][A-Za-z0-9-]{0,63})/(?P<dataset>[A-Za-z0-9][A-Za-z0-9-]{0,63})"
    r"(?P<suffix>\.h5ad|\.zarr\.zip)"
)

log = logging.getLogger(__name__)


SCRATCH_PREFIX = "cellucid-upload-"
"""Name prefix of the scratch folder each upload is processed in."""
MAX_REASON = 500
"""Characters of a failure reason kept (a reason may quote names from the file)."""


PrepareRun = Callable[[Path, Path, str, ExportSettings], DatasetIdentity]
"""How a processor reads an upload into an export folder: :func:`check_and_prepare` itself
(in this process, as on AWS), or the same in a limited child process (``up``)."""


def check_and_prepare(
    upload: Path, out: Path, suffix: str, settings: ExportSettings
) -> DatasetIdentity:
    """The only code that parses an untrusted file: check it, then prepare its export into
    ``out``. A file that is refused raises :class:`PrepareError` with the reason."""
    check_upload(upload, suffix)
    return prepare(upload, out, settings).identity


def export_prefix(version_id: str, attempt: int = 1) -> str:
    """Where a claim's export goes: each attempt has its own, so none overwrites another."""
    return f"exports/{version_id}/" if attempt <= 1 else f"exports/{version_id}-{attempt}/"


def _one_line(reason: str) -> str:
    """A reason as the curator reads it: its first line, at most :data:`MAX_REASON` long."""
    lines = reason.strip().splitlines()
    line = lines[0] if lines else "unknown error"
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"


@dataclass(frozen=True, slots=True)
class UploadKey:
    collection_id: str
    dataset_id: str
    suffix: str

    @classmethod
    def parse(cls, key: str) -> UploadKey | None:
        match = _KEY.fullmatch(key)
        if match is None:
            return None
        return cls(match["collection"], match["dataset"], match["suffix"])

    def __str__(self) -> str:
        return f"{self.collection_id}/{self.dataset_id}{self.suffix}"


@dataclass(frozen=True, slots=True)
class Outcome:
    key: str
    status: Literal["ready", "failed", "skipped", "ignored"]
    version_id: str | None = None
    reason: str | None = None


class Processor:
    def __init__(
        self,
        catalog: CatalogService,
        uploads: ObjectStore,
        exports: ObjectStore,
        settings: ExportSettings | None = None,
        scratch: Path | None = None,
        reclaim_before: datetime | None = None,
        run: PrepareRun = check_and_prepare,
    ) -> None:
        self.catalog = catalog
        self.uploads = uploads
        self.exports = exports
        self.settings = settings or ExportSettings()
        self.scratch = scratch
        self.run = run
        self.reclaim_before = reclaim_before
        """Versions still ``processing`` since before this time belong to a dead worker."""

    def process(self, key: str) -> Outcome:
        """Handle one upload event. Unexpected errors mark the version failed and retryable and
        propagate (so a queue can retry or dead-letter the message); the version never stays
        stuck. A file that exhausts memory fails for good: retrying it would only do it again."""
        upload = UploadKey.parse(key)
        if upload is None:
            return Outcome(key, "ignored", reason="not <collection_id>/<dataset_id>.h5ad|.zarr.zip")
        with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX, dir=self.scratch) as tmp:
            local = Path(tmp) / f"upload{upload.suffix}"
            etag = self.uploads.fetch(key, local)
            try:
                version = self.catalog.receive_upload(
                    upload.collection_id, upload.dataset_id, key, etag
                )
            except CatalogError as exc:
                log.warning("upload %s ignored: %s", key, exc)
                return Outcome(key, "ignored", reason=str(exc))
            claimed = self.catalog.start_processing(version.version_id, self.reclaim_before)
            if claimed is None:
                return Outcome(key, "skipped", version.version_id, reason="already processed")
            try:
                return self._prepare(key, upload, claimed, local)
            except MemoryError:
                return self._refuse(
                    key, claimed.version_id, "the file needs more memory than processing has"
                )
            except Exception as exc:
                self.catalog.finish_processing(
                    claimed.version_id,
                    reason=_one_line(f"internal error while processing: {exc}"),
                    retryable=True,
                )
                raise

    def _prepare(
        self, key: str, upload: UploadKey, version: DatasetVersion, local: Path
    ) -> Outcome:
        out = local.parent / "export"
        settings = self.settings.model_copy(
            update={"dataset_id": upload.dataset_id, "name": version.name or None}
        )
        try:
            identity = self.run(local, out, upload.suffix, settings)
        except PrepareError as exc:
            # The curator's name for the file, not our scratch path.
            return self._refuse(key, version.version_id, str(exc).replace(str(local), key))
        prefix = export_prefix(version.version_id, version.attempts)
        size = self.exports.put_folder(prefix, out)
        terms = identity.ontology_terms or {}
        stats = DatasetStats(
            name=identity.name,
            n_cells=identity.stats.n_cells,
            n_genes=identity.stats.n_genes,
            bytes=size,
            source_bytes=local.stat().st_size,
            **{
                field: tuple(OntologyTerm(**t.model_dump()) for t in terms.get(field, ()))
                for field in SCHEMA_FIELDS
            },
        )
        self.catalog.finish_processing(version.version_id, export_prefix=prefix, stats=stats)
        log.info("upload %s ready at %s", key, prefix)
        return Outcome(key, "ready", version.version_id)

    def _refuse(self, key: str, version_id: str, reason: str) -> Outcome:
        reason = _one_line(reason)
        self.catalog.finish_processing(version_id, reason=reason)
        log.info("upload %s failed: %s", key, reason)
        return Outcome(key, "failed", version_id, reason=reason)
