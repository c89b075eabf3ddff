"""The meta answer's ``status`` and ``reason``: what a visitor of a dataset's URL may learn about
a version that has no export (the viewer page shows it), and nothing private."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellucid_cloud.catalog.documents import as_json
from cellucid_cloud.catalog.meta import SERVER_FAILURE, MetaService
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.catalog.sqlite_repository import SqliteCatalogRepository
from tests.catalog_data import (
    CURATOR,
    METADATA,
    FakeExports,
    accept,
    published_collection,
    upload_ready,
)


@pytest.fixture
def catalog(tmp_path: Path) -> CatalogService:
    return CatalogService(SqliteCatalogRepository(tmp_path / "catalog.sqlite3"))


def lookup(catalog: CatalogService, explorer_id: str) -> dict[str, object]:
    meta = MetaService(catalog, FakeExports(), "https://h", ttl=0, clock=lambda: 0.0)
    answer = meta.lookup(f"/e/{explorer_id}/").value
    assert answer is not None
    return as_json(answer)


def fail(catalog: CatalogService, cid: str, dataset_id: str, reason: str, *, ours: bool) -> str:
    version = accept(catalog, cid, dataset_id)
    assert catalog.start_processing(version.version_id) is not None
    catalog.finish_processing(version.version_id, reason=reason, retryable=ours)
    return version.version_id


def test_states_without_an_export(catalog: CatalogService) -> None:
    cid = catalog.create_collection(CURATOR, METADATA).collection.collection_id
    dataset_id = catalog.add_dataset(CURATOR, cid).dataset_id
    waiting = lookup(catalog, dataset_id)
    assert (waiting["status"], waiting["reason"]) == ("waiting", None)
    version = accept(catalog, cid, dataset_id)
    catalog.start_processing(version.version_id)
    assert lookup(catalog, dataset_id)["status"] == "processing"
    upload_ready(catalog, cid, dataset_id, "v1")
    answer = lookup(catalog, dataset_id)
    assert (answer["status"], answer["reason"]) == ("ready", None)
    assert answer["export_url"] is not None


def test_a_failure_shows_the_file_reason_without_private_ids_or_paths(
    catalog: CatalogService,
) -> None:
    view = catalog.create_collection(CURATOR, METADATA)
    cid, draft_id = view.collection.collection_id, view.version.version_id
    dataset_id = catalog.add_dataset(CURATOR, cid).dataset_id
    reason = (
        f"{draft_id}/{dataset_id}.h5ad: no usable embedding in collection {cid} "
        "(read from /tmp/cellucid-upload-x1/upload.h5ad; obsm/X_pca has 1 column)"
    )
    version_id = fail(catalog, cid, dataset_id, reason, ours=False)
    answer = lookup(catalog, dataset_id)
    assert answer["status"] == "failed"
    assert answer["dataset_version_id"] == version_id
    assert answer["reason"] == (
        f"…/{dataset_id}.h5ad: no usable embedding in collection {cid} "
        "(read from …; obsm/X_pca has 1 column)"
    )


def test_a_failure_of_ours_says_only_that(catalog: CatalogService) -> None:
    cid = catalog.create_collection(CURATOR, METADATA).collection.collection_id
    dataset_id = catalog.add_dataset(CURATOR, cid).dataset_id
    fail(catalog, cid, dataset_id, "internal error while processing: bucket x denied", ours=True)
    assert lookup(catalog, dataset_id)["reason"] == SERVER_FAILURE


def test_a_failed_revision_upload_shows_on_its_private_url_only(catalog: CatalogService) -> None:
    cid, [dataset_id] = published_collection(catalog, 1)
    rid = catalog.start_revision(CURATOR, cid).version.version_id
    version_id = fail(catalog, rid, dataset_id, "not an AnnData file", ours=False)
    private = lookup(catalog, version_id)
    assert (private["status"], private["reason"]) == ("failed", "not an AnnData file")
    public = lookup(catalog, dataset_id)
    assert (public["status"], public["reason"]) == ("ready", None)
