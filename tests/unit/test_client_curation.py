"""CurationClient against the real app over real HTTP: tokens, errors, the routes, uploads.

Processing is not running here (the round trip through processing and publishing is in
``tests/integration/test_client_roundtrip.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from cellucid_cloud.catalog.models import utcnow
from cellucid_cloud.client import ApiError, CurationClient, NotFoundError
from cellucid_cloud.client.curation import CHUNK
from tests.live_app import ManualClock, RecordingTransport, Served, serving

TOKEN = "/curation/v1/auth/token"
CONTACT = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.org"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path / "data", meta_ttl=0) as live:
        yield live


@pytest.fixture
def transport() -> Iterator[RecordingTransport]:
    with RecordingTransport() as recording:
        yield recording


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def curator(served: Served, transport: RecordingTransport, clock: ManualClock) -> CurationClient:
    http = httpx.Client(transport=transport, timeout=30)
    return CurationClient(served.base_url, served.stack.curator_key, http, clock=clock)


def test_token_is_renewed_shortly_before_it_expires(
    served: Served, curator: CurationClient, transport: RecordingTransport, clock: ManualClock
) -> None:
    assert served.stack.auth.token_ttl == 3600
    start = clock.now
    curator.list_collections()
    clock.now = start + 3600 - 60 - 0.01
    curator.list_collections()
    assert transport.count(TOKEN) == 1
    clock.now = start + 3600 - 60
    curator.list_collections()
    assert transport.count(TOKEN) == 2


def test_a_refused_token_is_replaced_once(
    served: Served, curator: CurationClient, transport: RecordingTransport
) -> None:
    curator.list_collections()
    later = utcnow() + timedelta(hours=2)
    served.stack.auth.clock = lambda: later  # the server now sees our token as expired
    assert curator.list_collections() == []
    assert transport.count(TOKEN) == 2
    assert [r.url.path for r in transport.requests[-3:]] == [
        "/curation/v1/collections",
        TOKEN,
        "/curation/v1/collections",
    ]


def test_a_wrong_api_key_is_an_api_error(served: Served, transport: RecordingTransport) -> None:
    http = httpx.Client(transport=transport)
    with pytest.raises(ApiError) as refused:
        CurationClient(served.base_url, "ccak_wrong", http).list_collections()
    assert (refused.value.status, refused.value.detail) == (401, "unknown or revoked API key")
    assert transport.count(TOKEN) == 1


def test_collection_lifecycle(curator: CurationClient) -> None:
    links = [{"name": "paper", "type": "DOI", "url": "https://doi.org/10.1/x"}]
    collection_id = curator.create_collection("Lung", "Adult lung", **CONTACT, links=links)
    document = curator.get_collection(collection_id)
    assert document["collection_id"] == collection_id
    assert (document["name"], document["description"]) == ("Lung", "Adult lung")
    assert document["visibility"] == "PRIVATE"
    # Our names, and the portal's beside them (link_name, link_type, link_url).
    assert [{k: link[k] for k in ("name", "type", "url")} for link in document["links"]] == links
    assert document["links"][0]["link_url"] == links[0]["url"]
    changed = curator.update_collection(collection_id, name="Lung atlas", description="")
    assert (changed["name"], changed["description"]) == ("Lung atlas", "")
    assert [c["collection_id"] for c in curator.list_collections()] == [collection_id]

    dataset_id = curator.create_dataset(collection_id, "A")
    dataset = curator.get_dataset(collection_id, dataset_id)
    assert (dataset["dataset_id"], dataset["name"], dataset["status"]) == (
        dataset_id,
        "A",
        "waiting",
    )
    assert dataset["collection_id"] == collection_id
    curator.delete_dataset(collection_id, dataset_id)
    with pytest.raises(NotFoundError):
        curator.get_dataset(collection_id, dataset_id)

    curator.delete_collection(collection_id)
    with pytest.raises(NotFoundError) as gone:
        curator.get_collection(collection_id)
    assert gone.value.status == 404


def test_api_errors_carry_status_and_detail(curator: CurationClient) -> None:
    with pytest.raises(ApiError) as invalid:
        curator.create_collection("Lung", contact_name="Ada", contact_email="not an email")
    assert invalid.value.status == 422
    assert invalid.value.detail.startswith("contact_email:")
    collection_id = curator.create_collection("Lung", **CONTACT)
    with pytest.raises(ApiError) as typo:
        curator.update_collection(collection_id, nmae="Lung")
    assert (typo.value.status, typo.value.detail.split(":")[0]) == (422, "nmae")
    with pytest.raises(ApiError) as empty:
        curator.publish(collection_id)
    assert (empty.value.status, empty.value.detail) == (
        422,
        "a collection without datasets cannot be published",
    )
    curator.create_dataset(collection_id)
    with pytest.raises(ApiError) as not_ready:
        curator.publish(collection_id)
    assert not_ready.value.status == 409
    with pytest.raises(ApiError) as private:
        curator.start_revision(collection_id)
    assert private.value.status == 409


def test_upload_streams_the_file_with_its_length(
    served: Served, curator: CurationClient, transport: RecordingTransport, tmp_path: Path
) -> None:
    collection_id = curator.create_collection("Lung", **CONTACT)
    dataset_id = curator.create_dataset(collection_id, "A")
    data = os.urandom(2 * CHUNK + CHUNK // 2)
    path = tmp_path / "A.h5ad"
    path.write_bytes(data)

    grant = curator.upload(collection_id, dataset_id, path)

    [put] = [r for r in transport.requests if r.method == "PUT"]
    assert put.headers["content-length"] == str(len(data))
    assert "transfer-encoding" not in put.headers
    assert "authorization" not in put.headers  # the bearer token stays with the API
    assert transport.chunks[transport.requests.index(put)] == [CHUNK, CHUNK, CHUNK // 2]
    assert grant.key == f"{collection_id}/{dataset_id}/{grant.upload_id}.h5ad"
    assert curator.get_dataset(collection_id, dataset_id)["dataset_version_id"] == (
        grant.dataset_version_id
    )
    assert (served.stack.data_dir / "uploads" / grant.key).read_bytes() == data


def test_upload_refuses_other_files_before_any_request(
    curator: CurationClient, transport: RecordingTransport, tmp_path: Path
) -> None:
    path = tmp_path / "A.csv"
    path.write_text("a,b\n")
    with pytest.raises(ValueError, match=r"\.h5ad or \.zarr\.zip"):
        curator.upload("some-collection", "some-dataset", path)
    assert transport.requests == []


def test_upload_url_states_the_limits(curator: CurationClient) -> None:
    collection_id = curator.create_collection("Lung", **CONTACT)
    dataset_id = curator.create_dataset(collection_id)
    exact = curator.upload_url(collection_id, dataset_id, format="zarr.zip", size=10)
    assert exact.key == f"{collection_id}/{dataset_id}/{exact.upload_id}.zarr.zip"
    assert exact.expires_in > 0
    assert exact.max_bytes == 10  # a declared size is the exact length the URL takes
    grant = curator.upload_url(collection_id, dataset_id)
    assert grant.max_bytes > 10  # without one, the server's cap
    with pytest.raises(ApiError) as too_large:
        curator.upload_url(collection_id, dataset_id, size=grant.max_bytes + 1)
    assert too_large.value.status == 422
    # The refused request left no trace: the dataset still reports the accepted upload.
    dataset = curator.get_dataset(collection_id, dataset_id)
    assert dataset["dataset_version_id"] == grant.dataset_version_id


def test_waiting_gives_up_at_the_timeout(curator: CurationClient) -> None:
    collection_id = curator.create_collection("Lung", **CONTACT)
    dataset_id = curator.create_dataset(collection_id)
    with pytest.raises(TimeoutError, match="still waiting"):
        curator.wait_until_processed(collection_id, dataset_id, timeout=0)
