"""Which uploads the prepare function hands to the distributed export (docs/deploy.md).

One function exports an upload when it fits what one Lambda has: 10 GB of ``/tmp`` for the
upload, its spill (6 bytes per stored value) and the export, and 15 minutes. An ``.h5ad``
larger than :data:`DISTRIBUTED_ABOVE_BYTES`, or whose matrix of gene values stores more than
:data:`DISTRIBUTED_ABOVE_VALUES` values (a compressed file can hold many in few bytes), goes to
the state machine instead. A ``.zarr.zip`` is always exported by one function.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from cellucid_cloud.catalog.processing import LargeExport, StoredUpload
from cellucid_cloud.core.ports import Executions, Objects
from cellucid_cloud.export import PrepareError
from cellucid_cloud.export.source import stored_values

from .upload_file import open_upload
from .work import WorkOrder

__all__ = ["DISTRIBUTED_ABOVE_BYTES", "DISTRIBUTED_ABOVE_VALUES", "DistributedExport"]

DISTRIBUTED_ABOVE_BYTES: Final = 2 << 30
"""2 GiB: the upload, a spill of ~0.75x its size (CSR stores 8-12 bytes per value) and the
export stay within a third of /tmp, and the ~250 M values such a file holds take some 5
minutes on one function (6.3 M values/s measured on 2 cores, docs/benchmarks.md)."""
DISTRIBUTED_ABOVE_VALUES: Final = 250_000_000
"""The same budget counted in values, for files compressed below 2 GiB."""
SHAPE_READ_ABOVE: Final = 128 << 20
"""Smaller files cannot hold that many values (deflate saves at most ~10x on counts): their
shape is not read."""


class DistributedExport:
    """Sends large uploads to the state machine (:class:`~cellucid_cloud.catalog.processing.
    LargeUploads`)."""

    def __init__(
        self,
        uploads: Objects,
        executions: Executions,
        *,
        above_bytes: int = DISTRIBUTED_ABOVE_BYTES,
        above_values: int = DISTRIBUTED_ABOVE_VALUES,
    ) -> None:
        self.uploads = uploads
        self.executions = executions
        self.above_bytes = above_bytes
        self.above_values = above_values

    def inspect(self, key: str, suffix: str) -> StoredUpload | None:
        if suffix != ".h5ad":
            return None
        try:
            stored = self.uploads.head(key)
        except FileNotFoundError:
            return None
        if stored.size > self.above_bytes:
            return stored
        if stored.size <= min(SHAPE_READ_ABOVE, self.above_bytes):
            return None
        try:
            with open_upload(self.uploads.ranges(key, stored.etag), Path(key)) as root:
                values = stored_values(root, None)
        except PrepareError:
            return None  # the function that reads it here says what is wrong with it
        return stored if values > self.above_values else None

    def start(self, export: LargeExport) -> None:
        order = WorkOrder(
            version_id=export.version_id,
            attempt=export.attempt,
            upload_key=export.key,
            upload_etag=export.upload.etag,
            upload_size=export.upload.size,
            upload_modified=export.upload.modified,
            file_name=export.file_name,
            export_prefix=export.export_prefix,
            settings=export.settings,
        )
        document = json.dumps({"order": order.model_dump(mode="json")})
        self.executions.start(f"{order.version_id}-{order.attempt}", document)
