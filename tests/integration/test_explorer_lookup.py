"""The cellxgene explorer's own lookup, request for request, against a real ``up``.

The requests and reads are those of chanzuckerberg/single-cell-explorer at dbbcef3 (unmodified):

* ``server/dataset/dataset_metadata.py``
  - l.27: ``GET {api_base}/datasets/meta?url={explorer_url}/`` with ``explorer_url`` =
    ``{web_base_url}/{dataroot}/{dataset}`` (l.73), **not** URL-encoded, a ``/`` always
    appended, headers ``Content-Type`` and ``Accept: application/json`` (l.24);
  - l.82-84: reads ``tombstoned``, then ``dataset_id`` and ``collection_id``;
  - l.117-122: reads ``collection_id``, ``dataset_id``, ``collection_visibility``;
  - l.124-126: ``GET {api_base}/collections/{collection_id}`` plus ``?visibility=PRIVATE`` when
    the visibility is ``PRIVATE``;
  - l.130-145: reads ``id``, ``datasets[].name`` of the entry whose ``id`` equals the meta
    answer's ``dataset_id``, ``name``, ``description``, ``contact_email``, ``contact_name``,
    ``links``, ``datasets`` and (optionally) ``publisher_metadata``;
* ``server/app/api/util.py`` l.8: reads ``s3_uri`` of the meta answer (``.rstrip("/")``);
* ``server/app/app.py`` l.73-77: on a tombstone, redirects the browser to
  ``{web_base_url}/collections/{collection_id}?tombstoned_dataset_id={dataset_id}``;
* ``client/src/common/types/entities.ts``: ``Dataset`` = ``id``, ``cell_count``,
  ``dataset_deployments[].url``, ``name``, ``published``, ``organism[]``; ``Link`` =
  ``link_name``, ``link_type``, ``link_url``.

The explorer's functions themselves were also run unmodified against ``up`` (the report of
issue 13 has the run); this test keeps their requests and reads in the suite without their
Flask stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cellucid_cloud.catalog.models import CollectionMetadata, Link
from tests.catalog_data import CURATOR, upload_ready
from tests.live_app import Served, serving

HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


@dataclass(frozen=True)
class World:
    live: Served
    collection_id: str
    published: list[str]
    tombstoned: str
    private_version: str
    revision: str
    draft_dataset: str
    draft_version: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with serving(tmp_path_factory.mktemp("up") / "data", meta_ttl=0) as live:
        catalog = live.stack.catalog
        metadata = CollectionMetadata(
            name="Lung atlas",
            description="Adult human lung",
            contact_name="Ada Lovelace",
            contact_email="ada@example.org",
            links=[Link(name="Paper", type="DOI", url="https://doi.org/10.1/x")],
        )
        cid = catalog.create_collection(CURATOR, metadata).collection.collection_id
        ids = [catalog.add_dataset(CURATOR, cid, n).dataset_id for n in ("a", "b", "c")]
        for i, dataset_id in enumerate(ids):
            upload_ready(catalog, cid, dataset_id, f"v1-{i}")
        catalog.publish(CURATOR, cid)
        withdrawal = catalog.start_revision(CURATOR, cid).version.version_id
        catalog.remove_dataset(CURATOR, withdrawal, ids[2])
        catalog.publish(CURATOR, withdrawal)
        revision = catalog.start_revision(CURATOR, cid).version.version_id
        private_version = upload_ready(catalog, revision, ids[0], "v2-0")
        draft = catalog.create_collection(CURATOR, metadata.model_copy(update={"name": "Draft"}))
        draft_dataset = catalog.add_dataset(CURATOR, draft.collection.collection_id, "d")
        upload_ready(catalog, draft.collection.collection_id, draft_dataset.dataset_id, "d1")
        yield World(
            live,
            cid,
            ids[:2],
            ids[2],
            private_version,
            revision,
            draft_dataset.dataset_id,
            draft.version.version_id,
        )


def explorer_lookup(web_base_url: str, dataroot: str, dataset: str) -> dict[str, Any]:
    """``get_dataset_metadata`` then ``get_dataset_and_collection_metadata``, as they request
    and read (module docstring); returns what the explorer shows."""
    api_base = f"{web_base_url}/dp/v1"
    explorer_url = f"{web_base_url}/{dataroot}/{dataset}"
    request = f"{api_base}/datasets/meta?url={explorer_url}/"
    res = httpx.get(request, headers=HEADERS)
    assert res.request.url.raw_path.decode().endswith(f"?url={explorer_url}/")  # sent unencoded
    assert res.status_code == 200, res.text
    meta = res.json()
    assert meta["tombstoned"] is False
    s3_uri = meta["s3_uri"].rstrip("/")
    dataset_id, collection_id = meta["dataset_id"], meta["collection_id"]
    suffix = "?visibility=PRIVATE" if meta["collection_visibility"] == "PRIVATE" else ""
    collection = httpx.get(f"{api_base}/collections/{collection_id}{suffix}")
    assert collection.is_success, collection.text
    doc = collection.json()
    shown = {
        "s3_uri": s3_uri,
        "dataset_name": next(d["name"] for d in doc["datasets"] if d["id"] == dataset_id),
        "dataset_id": dataset_id,
        "collection_url": f"{web_base_url}/collections/{doc['id']}",
        "collection_name": doc["name"],
        "collection_description": doc["description"],
        "collection_contact_email": doc["contact_email"],
        "collection_contact_name": doc["contact_name"],
        "collection_links": doc["links"],
        "collection_datasets": doc["datasets"],
    }
    assert doc.get("publisher_metadata") is None
    return shown


def check_client_reads(shown: dict[str, Any]) -> None:
    for link in shown["collection_links"]:
        assert {"link_name", "link_type", "link_url"} <= link.keys()
    for dataset in shown["collection_datasets"]:
        assert isinstance(dataset["id"], str) and isinstance(dataset["name"], str)
        assert isinstance(dataset["cell_count"], int)
        assert all(isinstance(d["url"], str) for d in dataset["dataset_deployments"])
        assert isinstance(dataset["published"], bool)
        assert isinstance(dataset["organism"], list)


@pytest.mark.parametrize(
    ("dataroot", "suffix"), [("e", ""), ("e", ".cxg"), ("cellxgene/e", ".cxg"), ("d", "")]
)
def test_a_published_dataset_from_any_prefix(world: World, dataroot: str, suffix: str) -> None:
    base = world.live.base_url
    dataset_id = world.published[1]
    shown = explorer_lookup(base, dataroot, dataset_id + suffix)
    assert shown["dataset_id"] == dataset_id
    assert shown["dataset_name"] == "v1-1"
    assert shown["s3_uri"]
    assert shown["collection_url"] == f"{base}/collections/{world.collection_id}"
    assert (shown["collection_name"], shown["collection_description"]) == (
        "Lung atlas",
        "Adult human lung",
    )
    assert shown["collection_contact_email"] == "ada@example.org"
    assert shown["collection_links"][0]["link_url"] == "https://doi.org/10.1/x"
    assert {d["id"] for d in shown["collection_datasets"]} == set(world.published)
    check_client_reads(shown)


def test_a_revisions_private_dataset(world: World) -> None:
    base = world.live.base_url
    shown = explorer_lookup(base, "e", world.private_version)
    assert shown["dataset_name"] == "v2-0"
    assert shown["collection_url"] == f"{base}/collections/{world.revision}"
    assert {d["published"] for d in shown["collection_datasets"]} == {True, False}
    check_client_reads(shown)


def test_a_drafts_dataset(world: World) -> None:
    base = world.live.base_url
    shown = explorer_lookup(base, "e", world.draft_dataset + ".cxg")
    assert shown["collection_url"] == f"{base}/collections/{world.draft_version}"
    assert [d["published"] for d in shown["collection_datasets"]] == [False]


def test_a_withdrawn_dataset_redirects_to_its_collection(world: World) -> None:
    base = world.live.base_url
    res = httpx.get(f"{base}/dp/v1/datasets/meta?url={base}/e/{world.tombstoned}.cxg/")
    assert res.status_code == 200
    meta = res.json()
    assert meta["tombstoned"] is True
    assert (meta["dataset_id"], meta["collection_id"]) == (world.tombstoned, world.collection_id)
    # The explorer's redirect (server/app/app.py l.73-77) lands on the collection's page ...
    page = httpx.get(
        f"{base}/collections/{meta['collection_id']}?tombstoned_dataset_id={meta['dataset_id']}"
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # ... whose data, the published collection, no longer lists the withdrawn dataset.
    document = httpx.get(f"{base}/dp/v1/collections/{meta['collection_id']}").json()
    assert document["visibility"] == "PUBLIC"
    assert world.tombstoned not in {d["id"] for d in document["datasets"]}
