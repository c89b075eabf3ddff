"""One publish is one commit, on either catalog adapter: 98 changed datasets pass, the 99th is
refused whole (DynamoDB's transaction holds 100 writes: the datasets, the collection and its
version)."""

from __future__ import annotations

import pytest

from cellucid_cloud.catalog.errors import StateConflictError
from cellucid_cloud.catalog.meta import MetaService
from cellucid_cloud.catalog.repository import MAX_WRITES, CatalogRepository
from cellucid_cloud.catalog.service import CatalogService
from tests.catalog_data import CURATOR, METADATA, FakeExports, upload_ready

MOST_PER_PUBLISH = MAX_WRITES - 2


def test_98_datasets_publish_in_one_pass_and_99_are_refused_whole(
    repository: CatalogRepository,
) -> None:
    assert MOST_PER_PUBLISH == 98
    catalog = CatalogService(repository)
    cid = catalog.create_collection(CURATOR, METADATA).collection.collection_id
    datasets = []
    for i in range(MOST_PER_PUBLISH + 1):
        dataset_id = catalog.add_dataset(CURATOR, cid).dataset_id
        upload_ready(catalog, cid, dataset_id, f"v{i}")
        datasets.append(dataset_id)
    with pytest.raises(StateConflictError, match=r"changes 99 datasets; .* at most 98"):
        catalog.publish(CURATOR, cid)
    assert not catalog.version_for(cid).collection.is_published
    catalog.remove_dataset(CURATOR, cid, datasets.pop())
    view = catalog.publish(CURATOR, cid)
    assert view.collection.published_version_id == view.version.version_id
    meta = MetaService(repository, FakeExports(), "https://h", ttl=0, clock=lambda: 0.0)
    answers = [meta.lookup(f"/e/{dataset_id}/").value for dataset_id in datasets]
    assert all(a is not None and a["collection_visibility"] == "PUBLIC" for a in answers)
