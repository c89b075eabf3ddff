"""Processing an upload into a new, immutable export — the same on AWS and on one machine.

An upload is an object ``<collection id>/<dataset id>.h5ad`` (or ``.zarr.zip``) in the uploads
store. Processing records a new dataset version for it (the same one again if the same bytes
arrive twice: object events are at-least-once), prepares the export in a scratch folder, stores
it under the new prefix ``exports/<dataset version id>/`` and only then marks the version ready.
A file prepare refuses marks the version failed with prepare's one-line reason; the dataset's
previous version keeps serving throughout.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from cellucid_cloud.catalog.errors import CatalogError
from cellucid_cloud.catalog.models import DatasetStats
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.export import ExportSettings, PrepareError, prepare
from cellucid_cloud.storage.object_store import ObjectStore

__all__ = ["UPLOAD_SUFFIXES", "Outcome", "Processor", "UploadKey", "export_prefix"]

UPLOAD_SUFFIXES = (".h5ad", ".zarr.zip")
_KEY = re.compile(
    r"(?P<collection>[A-Za-z0-9][A-Za-z0-9-]{0,63})/(?P<dataset>[A-Za-z0-9][A-Za-z0-9-]{0,63})"
    r"(?P<suffix>\.h5ad|\.zarr\.zip)"
)

log = logging.getLogger(__name__)


def export_prefix(version_id: str) -> str:
    return f"exports/{version_id}/"


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
    ) -> None:
        self.catalog = catalog
        self.uploads = uploads
        self.exports = exports
        self.settings = settings or ExportSettings()
        self.scratch = scratch
        self.reclaim_before = reclaim_before
        """Versions still ``processing`` since before this time belong to a dead worker."""

    def process(self, key: str) -> Outcome:
        """Handle one upload event. Unexpected errors mark the version failed and propagate
        (so a queue can retry or dead-letter the message); the version never stays stuck."""
        upload = UploadKey.parse(key)
        if upload is None:
            return Outcome(key, "ignored", reason="not <collection_id>/<dataset_id>.h5ad|.zarr.zip")
        with tempfile.TemporaryDirectory(prefix="cellucid-upload-", dir=self.scratch) as tmp:
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
                return self._prepare(key, upload, claimed.version_id, claimed.name, local)
            except Exception as exc:
                self.catalog.finish_processing(
                    claimed.version_id, reason=f"internal error while processing: {exc}"
                )
                raise

    def _prepare(
        self, key: str, upload: UploadKey, version_id: str, name: str, local: Path
    ) -> Outcome:
        out = local.parent / "export"
        try:
            settings = self.settings.model_copy(
                update={"dataset_id": upload.dataset_id, "name": name or None}
            )
            result = prepare(local, out, settings)
        except PrepareError as exc:
            reason = str(exc).replace(str(local), key)  # the curator's name, not our scratch
            self.catalog.finish_processing(version_id, reason=reason)
            log.info("upload %s failed: %s", key, reason)
            return Outcome(key, "failed", version_id, reason=reason)
        prefix = export_prefix(version_id)
        size = self.exports.put_folder(prefix, out)
        identity = result.identity
        stats = DatasetStats(
            name=identity.name,
            n_cells=identity.stats.n_cells,
            n_genes=identity.stats.n_genes,
            bytes=size,
        )
        self.catalog.finish_processing(version_id, export_prefix=prefix, stats=stats)
        log.info("upload %s ready at %s", key, prefix)
        return Outcome(key, "ready", version_id)
