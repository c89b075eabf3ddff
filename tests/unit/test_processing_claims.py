"""Claiming a version for processing: retries of our own failures, never of the file's, each
attempt on its own export prefix, and a cap on attempts so a file that kills its worker
cannot crash it forever."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from cellucid_cloud.catalog.models import DatasetStatus, DatasetVersion, utcnow
from cellucid_cloud.catalog.processing import Outcome, Processor, export_prefix
from cellucid_cloud.catalog.service import MAX_ATTEMPTS, CatalogService
from cellucid_cloud.catalog.sqlite_repository import SqliteCatalogRepository
from cellucid_cloud.ingest.engine import check_and_prepare
from cellucid_cloud.storage.filesystem import FilesystemObjectStore
from tests.catalog_data import CURATOR, METADATA, accept
from tests.export_data import make_adata


@pytest.fixture
def catalog(tmp_path: Path) -> CatalogService:
    return CatalogService(SqliteCatalogRepository(tmp_path / "catalog.sqlite3"))


def waiting_version(
    catalog: CatalogService, uploads: FilesystemObjectStore | None = None
) -> DatasetVersion:
    """A version waiting for processing; with ``uploads``, for a small good file stored there."""
    cid = catalog.create_collection(CURATOR, METADATA).collection.collection_id
    dataset_id = catalog.add_dataset(CURATOR, cid).dataset_id
    version = accept(catalog, cid, dataset_id)
    if uploads is not None:
        key = str(version.source)
        uploads.path(key).parent.mkdir(parents=True, exist_ok=True)
        make_adata(n_cells=30, n_genes=4).write_h5ad(uploads.path(key))
    return version


def test_our_failures_are_claimed_again_the_files_are_not(catalog: CatalogService) -> None:
    ours = waiting_version(catalog)
    assert catalog.start_processing(ours.version_id) is not None
    catalog.finish_processing(ours.version_id, reason="internal error: S3 said 500", retryable=True)
    again = catalog.start_processing(ours.version_id)
    assert again is not None and again.status is DatasetStatus.PROCESSING
    assert again.attempts == 2 and again.reason is None and not again.retryable

    theirs = waiting_version(catalog)
    assert catalog.start_processing(theirs.version_id) is not None
    catalog.finish_processing(theirs.version_id, reason="not an HDF5 file", retryable=True)
    stored = catalog.repo.get(DatasetVersion, theirs.version_id)
    assert stored is not None and stored.retryable
    catalog.finish_processing(theirs.version_id, reason="not an HDF5 file")
    assert catalog.start_processing(theirs.version_id) is None


def test_a_worker_that_keeps_dying_gets_its_version_failed(catalog: CatalogService) -> None:
    assert MAX_ATTEMPTS == 2  # fewer than the queue's 3 receives (docs/reliability.md)
    version = waiting_version(catalog)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        claimed = catalog.start_processing(version.version_id, utcnow() + timedelta(hours=1))
        assert claimed is not None and claimed.attempts == attempt  # the last one "died"
    assert catalog.start_processing(version.version_id, utcnow() + timedelta(hours=1)) is None
    stored = catalog.repo.get(DatasetVersion, version.version_id)
    assert stored is not None and stored.status is DatasetStatus.FAILED
    assert stored.reason is not None and f"stopped {MAX_ATTEMPTS} times" in stored.reason
    assert catalog.start_processing(version.version_id, utcnow() + timedelta(hours=1)) is None


def test_each_attempt_writes_its_own_prefix(catalog: CatalogService, tmp_path: Path) -> None:
    """A retry after a half-stored export does not overwrite the partial prefix: it stores
    its own, then removes the dead attempt's (which no version points to)."""
    uploads = FilesystemObjectStore(tmp_path / "uploads")
    exports = FilesystemObjectStore(tmp_path / "data")
    version = waiting_version(catalog, uploads)
    key = str(version.source)
    assert catalog.start_processing(version.version_id) is not None  # attempt 1 died ...
    partial = exports.path(export_prefix(version.version_id))
    partial.mkdir(parents=True)
    (partial / "var").mkdir()  # ... after storing part of its export
    processor = Processor(
        catalog,
        uploads,
        exports,
        reclaim_before=utcnow() + timedelta(hours=1),
        run=check_and_prepare,
    )
    outcome = processor.process(key)
    assert outcome == Outcome(key, "ready", version.version_id)
    stored = catalog.repo.get(DatasetVersion, version.version_id)
    assert stored is not None and stored.export_prefix == f"exports/{version.version_id}-2/"
    assert (tmp_path / "data" / stored.export_prefix / "dataset_identity.json").is_file()
    assert not partial.exists()
    assert export_prefix("v", 1) == "exports/v/" and export_prefix("v", 3) == "exports/v-3/"


class FailsWhileStoring(FilesystemObjectStore):
    """An exports store that dies after storing part of a folder (S3's put is not atomic)."""

    def put_folder(self, prefix: str, folder: Path) -> int:
        partial = self.path(prefix.rstrip("/"))
        partial.mkdir(parents=True)
        (partial / "obs_manifest.json").write_text("{}")
        raise ConnectionError("the store went away")


def test_an_attempt_that_fails_while_storing_removes_what_it_stored(
    catalog: CatalogService, tmp_path: Path
) -> None:
    uploads = FilesystemObjectStore(tmp_path / "uploads")
    exports = FailsWhileStoring(tmp_path / "data")
    version = waiting_version(catalog, uploads)
    processor = Processor(catalog, uploads, exports, run=check_and_prepare)
    with pytest.raises(ConnectionError):
        processor.process(str(version.source))
    stored = catalog.repo.get(DatasetVersion, version.version_id)
    assert stored is not None and stored.status is DatasetStatus.FAILED and stored.retryable
    assert not exports.path(export_prefix(version.version_id)).exists()
    assert list((tmp_path / "data").rglob("*.json")) == []


def test_a_long_reason_is_cut_to_one_short_line(catalog: CatalogService, tmp_path: Path) -> None:
    uploads = FilesystemObjectStore(tmp_path / "uploads")
    version = waiting_version(catalog)
    key = str(version.source)
    path = uploads.path(key)
    path.parent.mkdir(parents=True)
    adata = make_adata(n_cells=30, n_genes=4)
    umap = adata.obsm["X_umap"].copy()
    umap[0, 0] = float("nan")
    adata.obsm.clear()
    adata.obsm["X_" + "u" * 2000] = umap
    adata.write_h5ad(path)
    outcome = Processor(
        catalog, uploads, FilesystemObjectStore(tmp_path / "data"), run=check_and_prepare
    ).process(key)
    assert outcome.status == "failed" and outcome.reason is not None
    assert len(outcome.reason) <= 500 and "\n" not in outcome.reason
    assert outcome.reason.endswith("…")
