"""The export engine behind the processing port (``core.ports.PrepareRun``).

Importing this module loads the engine (AnnData and its scientific stack): ``up``'s fork server
preloads it once so that each processing child starts in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

from cellucid_cloud.export.manifests import DatasetIdentity
from cellucid_cloud.export.prepare import prepare
from cellucid_cloud.export.settings import ExportSettings
from cellucid_cloud.ingest.upload_checks import check_upload

__all__ = ["check_and_prepare"]


def check_and_prepare(
    upload: Path, out: Path, suffix: str, settings: ExportSettings
) -> DatasetIdentity:
    """The only code that parses an untrusted file: check it, then prepare its export into
    ``out``. A file that is refused raises :class:`~cellucid_cloud.export.PrepareError` with the
    reason."""
    check_upload(upload, suffix)
    return prepare(upload, out, settings).identity
