"""The upload state machine of docs/catalog.md ("Uploads"), on the SQLite catalog with a clock
the tests move: acceptance order decides, whatever order the files come and finish in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cellucid_cloud.catalog.models import Dataset, DatasetStats, DatasetStatus, new_id
from cellucid_cloud.catalog.service import TRANSFER_GRACE, CatalogService
from cellucid_cloud.catalog.sqlite_repository import SqliteCatalogRepository
from cellucid_cloud.core.errors import NotFoundError, StateConflictError
from tests.catalog_data import CURATOR, METADATA, accept, published_collection


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def catalog(tmp_path: Path, clock: Clock) -> CatalogService:
    return CatalogService(SqliteCatalogRepository(tmp_path / "catalog.sqlite3"), clock=clock)


def draft_dataset(catalog: CatalogService) -> tuple[str, str]:
    cid = catalog.create_collection(CURATOR, METADATA).collection.collection_id
    return cid, catalog.add_dataset(CURATOR, cid).dataset_id


def finish(catalog: CatalogService, version_id: str) -> None:
    assert catalog.start_processing(version_id) is not None
    catalog.finish_processing(
        version_id,
        export_prefix=f"exports/{version_id}/",
        stats=DatasetStats(name="x", n_cells=1, n_genes=1, bytes=1),
    )


def current(catalog: CatalogService, cid: str, did: str) -> str:
    return catalog.dataset_in(catalog.version_for(cid), did).version_id


def test_an_accepted_upload_is_current_at_once_and_the_last_accepted_wins(
    catalog: CatalogService,
) -> None:
    cid, [did] = published_collection(catalog, 1)
    rid = catalog.start_revision(CURATOR, cid).version.version_id
    one = accept(catalog, rid, did, "one.h5ad")
    assert current(catalog, rid, did) == one.version_id  # not the published ready version
    assert catalog.dataset_in(catalog.version_for(rid), did).status is DatasetStatus.WAITING
    with pytest.raises(StateConflictError, match="ready"):
        catalog.publish(CURATOR, rid)  # publish waits for the upload too
    two = accept(catalog, rid, did, "two.h5ad")
    assert current(catalog, rid, did) == two.version_id
    upload_one = catalog.upload(str(one.upload_id))
    assert upload_one is not None
    assert catalog.pending_version(upload_one) is None  # its file, when it comes, is skipped
    finish(catalog, two.version_id)
    assert current(catalog, rid, did) == two.version_id
    catalog.publish(CURATOR, rid)
    dataset = catalog.repo.get(Dataset, did)
    assert dataset is not None and dataset.version_id == two.version_id


def test_a_draft_url_never_moves_to_an_older_upload(catalog: CatalogService) -> None:
    cid, did = draft_dataset(catalog)
    one, two = accept(catalog, cid, did), accept(catalog, cid, did)
    finish(catalog, two.version_id)
    finish(catalog, one.version_id)  # claimed before two replaced it, finished later
    dataset = catalog.repo.get(Dataset, did)
    assert dataset is not None and dataset.version_id == two.version_id


def test_an_abandoned_upload_url_fails_after_its_expiry_and_a_late_file_still_counts(
    catalog: CatalogService, clock: Clock
) -> None:
    cid, did = draft_dataset(catalog)
    version = accept(catalog, cid, did, "lung.h5ad")  # expires_in=900
    clock.now += timedelta(seconds=900) + TRANSFER_GRACE - timedelta(seconds=1)
    assert catalog.dataset_in(catalog.version_for(cid), did).status is DatasetStatus.WAITING
    clock.now += timedelta(seconds=2)
    failed = catalog.dataset_in(catalog.version_for(cid), did)
    assert failed.version_id == version.version_id and failed.status is DatasetStatus.FAILED
    assert failed.reason == (
        "lung.h5ad: no file arrived before the upload URL expired; upload it again"
    )
    upload = catalog.upload(str(version.upload_id))
    assert upload is not None
    assert catalog.pending_version(upload) is not None  # the file came after all
    finish(catalog, version.version_id)
    ready = catalog.dataset_in(catalog.version_for(cid), did)
    assert ready.status is DatasetStatus.READY


def test_a_file_that_arrived_is_never_failed_as_abandoned(
    catalog: CatalogService, clock: Clock
) -> None:
    """What ``up``'s upload route reports as a PUT completes: the version waits for the
    worker past any expiry, and one failed as abandoned meanwhile waits again."""
    cid, did = draft_dataset(catalog)
    arrived = accept(catalog, cid, did, "in-time.h5ad")
    catalog.file_arrived(str(arrived.upload_id))
    clock.now += timedelta(days=1)
    assert catalog.dataset_in(catalog.version_for(cid), did).status is DatasetStatus.WAITING

    late = accept(catalog, cid, did, "late.h5ad")
    clock.now += timedelta(seconds=900) + TRANSFER_GRACE
    assert catalog.dataset_in(catalog.version_for(cid), did).status is DatasetStatus.FAILED
    catalog.file_arrived(str(late.upload_id))
    waiting = catalog.dataset_in(catalog.version_for(cid), did)
    assert (waiting.version_id, waiting.status, waiting.reason) == (
        late.version_id,
        DatasetStatus.WAITING,
        None,
    )
    finish(catalog, late.version_id)
    catalog.file_arrived(str(late.upload_id))  # a finished upload stays as it is
    assert catalog.dataset_in(catalog.version_for(cid), did).status is DatasetStatus.READY


def test_direct_drops_are_ordered_by_the_store_and_recorded_once(
    catalog: CatalogService, clock: Clock
) -> None:
    cid, did = draft_dataset(catalog)
    key = f"{cid}/{did}.h5ad"
    t1 = clock.now + timedelta(seconds=1)
    t2 = t1 + timedelta(seconds=1)
    newer = catalog.receive_drop(key, cid, did, put="seq-2", at=t2, sequence="02")
    older = catalog.receive_drop(key, cid, did, put="seq-1", at=t1, sequence="01")
    assert newer.refused is None and older.refused is not None
    assert "a newer upload of dataset" in older.refused and older.refused.startswith(key)
    assert not older.versions
    again = catalog.receive_drop(key, cid, did, put="seq-2", at=t2, sequence="02")
    assert again.upload_id == newer.upload_id and again.versions == newer.versions
    assert current(catalog, cid, did) == newer.versions[-1]


def test_a_drop_nothing_open_can_take_is_refused_with_the_reason(
    catalog: CatalogService, clock: Clock
) -> None:
    cid, [did] = published_collection(catalog, 1)
    refused = catalog.receive_drop(f"{cid}/{did}.h5ad", cid, did, put="p", at=clock())
    assert refused.refused == (
        f"{cid}/{did}.h5ad: this collection is published; start a revision before uploading"
    )
    rid = catalog.start_revision(CURATOR, cid).version.version_id
    taken = catalog.receive_drop(f"{cid}/{did}.h5ad", cid, did, put="q", at=clock())
    assert taken.refused is None and taken.collection_version_id == rid
    assert current(catalog, rid, did) == taken.versions[-1]


def test_refusals_name_the_collection_the_curator_knows(catalog: CatalogService) -> None:
    cid, _ = draft_dataset(catalog)
    with pytest.raises(NotFoundError, match=f"no dataset nope in collection {cid}$"):
        catalog.accept_upload(
            CURATOR, cid, "nope", upload_id=new_id(), suffix=".h5ad", expires_in=900
        )


def test_export_options_apply_in_place_before_processing_and_make_a_new_version_after(
    catalog: CatalogService,
) -> None:
    cid, did = draft_dataset(catalog)
    waiting = current(catalog, cid, did)
    options = {"obs_keys": ["cell_type"]}
    same, upload = catalog.set_export_options(CURATOR, cid, did, options)
    assert (same.version_id, upload) == (waiting, None)  # nothing processed yet: in place
    first = accept(catalog, cid, did)
    assert first.export_options == options  # an upload inherits the dataset's options
    finish(catalog, first.version_id)

    cid_published = catalog.publish(CURATOR, cid).collection.collection_id
    rid = catalog.start_revision(CURATOR, cid_published).version.version_id
    again, upload = catalog.set_export_options(CURATOR, rid, did, {"obs_keys": ["n_genes"]})
    assert upload is not None and upload.upload_id == first.upload_id
    assert upload.versions == (first.version_id, again.version_id)
    assert current(catalog, rid, did) == again.version_id
    assert (again.status, again.source) == (DatasetStatus.WAITING, first.source)
    assert catalog.pending_version(upload) == again  # the same file, processed again
    assert current(catalog, cid, did) == first.version_id  # the published one is untouched
