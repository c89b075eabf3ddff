"""Registering a viewer reads the meta answer: a ready dataset by any of its URLs gets a viewer
on its current version; a withdrawn, unready or unknown one is refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellucid_cloud.catalog.meta import MetaService
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.catalog.sqlite_repository import SqliteCatalogRepository
from cellucid_cloud.core.errors import InvalidRequestError, NotFoundError
from cellucid_cloud.events.service import EventsService
from cellucid_cloud.events.sqlite_store import SqliteEventStore
from cellucid_cloud.storage.filesystem import FilesystemObjectStore
from tests.catalog_data import CURATOR, FakeExports, accept, published_collection


@pytest.fixture
def catalog(tmp_path: Path) -> CatalogService:
    return CatalogService(SqliteCatalogRepository(tmp_path / "catalog.sqlite3"))


@pytest.fixture
def events(tmp_path: Path, catalog: CatalogService) -> EventsService:
    meta = MetaService(catalog, FakeExports(), "https://h", ttl=0, clock=lambda: 0.0)
    blobs = FilesystemObjectStore(tmp_path / "sessions")
    return EventsService(SqliteEventStore(tmp_path / "events.sqlite3"), blobs, meta)


def test_a_ready_dataset_gets_a_viewer_on_its_current_version(
    catalog: CatalogService, events: EventsService
) -> None:
    cid, [dataset_id, _] = published_collection(catalog)
    version_id = catalog.version_for(cid).version.datasets[dataset_id]
    for url, shown in (
        (f"https://h/e/{dataset_id}/", dataset_id),
        (f"/e/{version_id}/", version_id),  # the viewer opens the URL it was asked about
        (dataset_id, dataset_id),
    ):
        registration = events.register(CURATOR, url)
        viewer = registration.viewer
        assert (viewer.dataset_id, viewer.dataset_version_id) == (dataset_id, version_id)
        assert viewer.n_cells == 10
        assert registration.viewer_url.startswith(f"https://h/e/{shown}/?viewerId=")


def test_withdrawn_unready_and_unknown_datasets_are_refused(
    catalog: CatalogService, events: EventsService
) -> None:
    cid, [kept, withdrawn] = published_collection(catalog)
    revision = catalog.start_revision(CURATOR, cid).version.version_id
    catalog.remove_dataset(CURATOR, revision, withdrawn)
    catalog.publish(CURATOR, revision)
    draft = catalog.start_revision(CURATOR, cid).version.version_id
    waiting = accept(catalog, draft, kept, "again.h5ad").version_id  # its private URL's id
    with pytest.raises(InvalidRequestError, match="withdrawn"):
        events.register(CURATOR, withdrawn)
    with pytest.raises(InvalidRequestError, match="no ready export"):
        events.register(CURATOR, waiting)
    with pytest.raises(NotFoundError):
        events.register(CURATOR, "00000000-0000-4000-8000-000000000000")
    assert events.register(CURATOR, kept).viewer.dataset_id == kept
