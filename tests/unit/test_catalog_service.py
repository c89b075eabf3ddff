"""The curation use cases over the SQLite repository: state rules, atomic publish, tombstones."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellucid_cloud.catalog.documents import as_json
from cellucid_cloud.catalog.meta import MetaService
from cellucid_cloud.catalog.models import Dataset, DatasetStatus
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.catalog.sqlite_repository import SqliteCatalogRepository
from cellucid_cloud.core.errors import (
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    StateConflictError,
)
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


def meta_of(catalog: CatalogService) -> MetaService:
    return MetaService(catalog, FakeExports(), "https://h", ttl=0, clock=lambda: 0.0)


def test_a_draft_is_private_and_resolves_to_its_newest_ready_version(
    catalog: CatalogService,
) -> None:
    cid = catalog.create_collection(CURATOR, METADATA).collection.collection_id
    dataset_id = catalog.add_dataset(CURATOR, cid).dataset_id
    meta = meta_of(catalog)
    waiting = meta.lookup(f"/e/{dataset_id}/").value
    assert waiting is not None and waiting.export_url is None
    v1 = upload_ready(catalog, cid, dataset_id, "one")
    answer = meta.lookup(f"/e/{dataset_id}/").value
    assert answer is not None
    assert answer.dataset_version_id == v1
    assert answer.collection_visibility == "PRIVATE"
    assert answer.explorer_s3_uri == f"s3://exports-bucket/exports/{v1}/"


def test_a_failed_upload_keeps_the_previous_version_serving(catalog: CatalogService) -> None:
    cid = catalog.create_collection(CURATOR, METADATA).collection.collection_id
    dataset_id = catalog.add_dataset(CURATOR, cid).dataset_id
    v1 = upload_ready(catalog, cid, dataset_id, "one")
    bad = accept(catalog, cid, dataset_id, "two.h5ad")
    assert catalog.start_processing(bad.version_id) is not None
    catalog.finish_processing(bad.version_id, reason="not an AnnData file")
    view = catalog.version_for(cid)
    current = catalog.dataset_in(view, dataset_id)
    assert current.status is DatasetStatus.FAILED and current.reason == "not an AnnData file"
    answer = meta_of(catalog).lookup(f"/e/{dataset_id}/").value
    assert answer is not None and answer.dataset_version_id == v1


def test_publishing_needs_datasets_all_ready(catalog: CatalogService) -> None:
    cid = catalog.create_collection(CURATOR, METADATA).collection.collection_id
    with pytest.raises(InvalidRequestError):
        catalog.publish(CURATOR, cid)
    dataset_id = catalog.add_dataset(CURATOR, cid).dataset_id
    with pytest.raises(StateConflictError, match="ready"):
        catalog.publish(CURATOR, cid)
    upload_ready(catalog, cid, dataset_id, "one")
    view = catalog.publish(CURATOR, cid)
    assert view.collection.published_version_id == view.version.version_id
    with pytest.raises(StateConflictError):  # nothing open any more
        catalog.publish(CURATOR, cid)


def test_one_open_revision_per_collection(catalog: CatalogService) -> None:
    cid, _ = published_collection(catalog)
    revision = catalog.start_revision(CURATOR, cid)
    with pytest.raises(StateConflictError, match=revision.version.version_id):
        catalog.start_revision(CURATOR, cid)
    with pytest.raises(StateConflictError, match="revision"):
        catalog.add_dataset(CURATOR, cid)  # the published version cannot change
    catalog.delete(CURATOR, revision.version.version_id)  # discard it
    assert catalog.start_revision(CURATOR, cid).version.version_id != revision.version.version_id


def test_another_curator_can_neither_read_nor_change(catalog: CatalogService) -> None:
    cid, [dataset_id] = published_collection(catalog, 1)
    for attempt in (
        lambda: catalog.owned("curator-b", cid),
        lambda: catalog.start_revision("curator-b", cid),
        lambda: catalog.remove_dataset("curator-b", cid, dataset_id),
        lambda: catalog.publish("curator-b", cid),
    ):
        with pytest.raises(ForbiddenError):
            attempt()


def test_unknown_ids_are_not_found(catalog: CatalogService) -> None:
    with pytest.raises(NotFoundError):
        catalog.version_for("no-such-collection")
    cid = catalog.create_collection(CURATOR, METADATA).collection.collection_id
    with pytest.raises(NotFoundError):
        catalog.dataset_in(catalog.version_for(cid), "no-such-dataset")


def test_publishing_a_revision_repoints_and_tombstones_together(catalog: CatalogService) -> None:
    cid, [a, b] = published_collection(catalog)
    meta = meta_of(catalog)
    before = {d: meta.lookup(f"/e/{d}/").value for d in (a, b)}
    rid = catalog.start_revision(CURATOR, cid).version.version_id
    a2 = upload_ready(catalog, rid, a, "v2")
    catalog.remove_dataset(CURATOR, rid, b)
    assert {d: meta.lookup(f"/e/{d}/").value for d in (a, b)} == before
    catalog.publish(CURATOR, rid)
    after_a = meta.lookup(f"/e/{a}/").value
    after_b = meta.lookup(f"/e/{b}/").value
    assert after_a is not None and after_a.dataset_version_id == a2
    assert after_b is not None and after_b.tombstoned is True
    assert as_json(after_b)["contact"] == {"name": "Ada Lovelace", "email": "ada@example.org"}
    # Every URL of the withdrawn dataset says so, its old version URL included.
    old_b = before[b]
    assert old_b is not None
    by_version = meta.lookup(f"/e/{old_b.dataset_version_id}/").value
    assert by_version is not None and by_version.tombstoned is True


def test_a_revision_removing_every_dataset_cannot_be_published(catalog: CatalogService) -> None:
    cid, [a] = published_collection(catalog, 1)
    rid = catalog.start_revision(CURATOR, cid).version.version_id
    catalog.remove_dataset(CURATOR, rid, a)
    with pytest.raises(InvalidRequestError):
        catalog.publish(CURATOR, rid)


def test_deleting_a_draft_removes_its_urls(catalog: CatalogService) -> None:
    cid = catalog.create_collection(CURATOR, METADATA).collection.collection_id
    dataset_id = catalog.add_dataset(CURATOR, cid).dataset_id
    catalog.delete(CURATOR, cid)
    assert catalog.repo.get(Dataset, dataset_id) is None
    assert meta_of(catalog).lookup(f"/e/{dataset_id}/").value is None
    with pytest.raises(NotFoundError):
        catalog.version_for(cid)
