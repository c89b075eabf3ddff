"""Local upload URLs are as strict as S3's presigned PUT (issue 15, finding 7): the declared size
is the exact length, a URL takes one PUT, and it dies with what it was issued for. Real HTTP
against the local stack; the AWS twin is at the end (moto)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cellucid_cloud.local.stack import FIRST_CURATOR
from tests.api_server import CONTACT, SeededApi, seeded_api
from tests.cloud import CloudStack, cloud_stack
from tests.export_data import make_adata
from tests.integration.test_cloud_pipeline import Curator, new_dataset, upload_by_url
from tests.live_app import serving

COLLECTIONS = "/curation/v1/collections"
SIZE = 1000


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededApi]:
    with seeded_api(tmp_path_factory.mktemp("upload-urls")) as api:
        yield api


@dataclass(frozen=True)
class Grant:
    collection: str
    dataset: str
    url: str
    key: str
    max_bytes: int


def grant(api: SeededApi, size: int | None = SIZE, collection: str | None = None) -> Grant:
    """An upload URL for a new dataset (in a new draft collection unless given)."""
    with api.client(FIRST_CURATOR) as curator:
        if collection is None:
            reply = curator.post(COLLECTIONS, json={"name": "Uploads", **CONTACT})
            collection = reply.json()["collection_id"]
        dataset = curator.post(f"{COLLECTIONS}/{collection}/datasets").json()["dataset_id"]
        body = {} if size is None else {"size": size}
        reply = curator.post(f"{COLLECTIONS}/{collection}/datasets/{dataset}/upload-url", json=body)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    return Grant(collection, dataset, answer["url"], answer["key"], answer["max_bytes"])


def uploaded(api: SeededApi) -> list[str]:
    root = api.stack.data_dir / "uploads"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def put(url: str, content: Any) -> httpx.Response:
    return httpx.put(url, content=content, headers={"Content-Type": "application/octet-stream"})


def test_the_declared_size_is_the_exact_length(api: SeededApi) -> None:
    """Asking for ``size=1000`` used to grant 20 GiB and take a 2.3 MB PUT."""
    url = grant(api)
    assert url.max_bytes == SIZE
    before = uploaded(api)
    assert put(url.url, bytes(2_300_000)).status_code == 413
    assert put(url.url, iter([bytes(2_300_000)])).status_code == 413  # chunked, no length
    assert put(url.url, bytes(SIZE + 1)).status_code == 413
    short = put(url.url, bytes(SIZE - 1))
    assert short.status_code == 400 and str(SIZE) in short.json()["detail"]
    assert put(url.url, iter([bytes(SIZE - 1)])).status_code == 400
    assert uploaded(api) == before, "a refused body left a file"
    assert put(url.url, bytes(SIZE)).status_code == 200  # refusals gave the URL back
    assert uploaded(api) == sorted([*before, url.key])


def test_without_a_declared_size_the_deployments_cap_applies(api: SeededApi) -> None:
    url = grant(api, size=None)
    assert url.max_bytes == api.stack.settings.max_upload_bytes
    assert put(url.url, bytes(12_345)).status_code == 200


def test_a_url_takes_one_put(api: SeededApi) -> None:
    """One URL once took 4 concurrent PUTs and later reuse: now one PUT has it while it
    streams, the others get 409, and once it has arrived the URL is used up."""
    url = grant(api)
    streaming = threading.Event()

    def slow() -> Iterator[bytes]:
        for _ in range(10):
            yield bytes(SIZE // 10)
            streaming.set()
            time.sleep(0.1)

    first: list[httpx.Response] = []
    sender = threading.Thread(target=lambda: first.append(put(url.url, slow())))
    sender.start()
    assert streaming.wait(30)
    racing = [put(url.url, bytes(SIZE)) for _ in range(3)]
    sender.join(30)
    assert [r.status_code for r in racing] == [409, 409, 409]
    assert "used" in racing[0].json()["detail"]
    assert first[0].status_code == 200
    later = put(url.url, bytes(SIZE))
    assert later.status_code == 409
    assert (api.stack.data_dir / "uploads" / url.key).stat().st_size == SIZE


@pytest.mark.parametrize("removed", ["dataset", "collection"])
def test_a_url_dies_with_its_dataset(api: SeededApi, removed: str) -> None:
    """The URL of a deleted dataset used to answer 200 and leave the file on disk."""
    url = grant(api)
    with api.client(FIRST_CURATOR) as curator:
        path = f"{COLLECTIONS}/{url.collection}"
        if removed == "dataset":
            path += f"/datasets/{url.dataset}"
        assert curator.delete(path).status_code in (200, 204)
    before = uploaded(api)
    reply = put(url.url, bytes(SIZE))
    assert reply.status_code == 410 and "no longer in use" in reply.json()["detail"]
    assert uploaded(api) == before


def test_a_url_replaced_by_a_newer_one_is_dead(api: SeededApi) -> None:
    """A newer upload of the same dataset wins (docs/catalog.md); the older URL takes
    nothing any more instead of writing a file no one will read."""
    older = grant(api)
    with api.client(FIRST_CURATOR) as curator:
        route = f"{COLLECTIONS}/{older.collection}/datasets/{older.dataset}/upload-url"
        newer = curator.post(route, json={"size": SIZE}).json()
    assert put(older.url, bytes(SIZE)).status_code == 410
    assert put(newer["url"], bytes(SIZE)).status_code == 200


def test_a_used_url_stays_used_after_a_restart(tmp_path: Path) -> None:
    """The claim is a file in the data directory, not only in memory (the server is not
    processing here, so the catalog still expects the file: only the claim refuses it)."""
    with seeded_api(tmp_path) as first:
        url = grant(first)
        assert put(url.url, bytes(SIZE)).status_code == 200
    with serving(tmp_path / "data", meta_ttl=0) as again:
        moved = again.base_url + url.url.removeprefix(first.base_url)
        assert put(moved, bytes(SIZE)).status_code == 409


# -- the AWS twin: presigned S3 PUTs on moto -------------------------------------------------


@pytest.fixture
def cloud(moto_server: str) -> Iterator[CloudStack]:
    with cloud_stack(moto_server) as stack:
        yield stack


def test_on_aws_a_presigned_put_is_used_once_and_dies_with_its_dataset(
    cloud: CloudStack, tmp_path: Path
) -> None:
    """S3 signs the declared length (``test_s3_storage.py::
    test_an_upload_url_is_valid_for_its_one_length_key_and_15_minutes``) but takes a second
    PUT to a presigned URL, and one after the dataset was removed; each URL's own key and
    upload record (docs/catalog.md) make those changes nothing: no version, no export."""
    curator = Curator(cloud)
    cid, did = new_dataset(curator)
    first = tmp_path / "first.h5ad"
    make_adata(n_cells=40, n_genes=8, seed=1).write_h5ad(first)
    data = first.read_bytes()
    answer = upload_by_url(curator, cid, did, data)
    assert cloud.deliver(cloud.receive(2)) == {"batchItemFailures": []}
    ready = curator.dataset(cid, did)
    assert (ready["status"], ready["n_cells"]) == ("ready", 40)
    exported = cloud.export_keys()

    assert httpx.put(answer["url"], content=data[::-1], headers=answer["headers"]).is_success
    assert cloud.deliver(cloud.receive(1)) == {"batchItemFailures": []}
    assert curator.dataset(cid, did) == ready
    assert cloud.export_keys() == exported

    cid2, did2 = new_dataset(curator)
    status, dead = curator.call(
        "curation-upload-url", {"size": len(data)}, collection_id=cid2, dataset_id=did2
    )
    assert status == 200, dead
    status, _ = curator.call("curation-delete-dataset", collection_id=cid2, dataset_id=did2)
    assert status in (200, 204)
    assert httpx.put(dead["url"], content=data, headers=dead["headers"]).is_success
    assert cloud.deliver(cloud.receive(1)) == {"batchItemFailures": []}
    assert cloud.export_keys() == exported
