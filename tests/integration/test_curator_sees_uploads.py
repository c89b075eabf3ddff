"""What the public and the curator read about uploads that did not become an export (issue 12's
known gaps), over real HTTP against the local stack's app: a failed version's reason reads the
same in its collection's document as in the meta answer, with no id the reader should not
learn; a file dropped into a published collection with no open revision shows on its dataset
as refused, with the reason, until a newer upload replaces it; an upload whose PUT failed
waits while its URL may be used again and fails as soon as it has expired."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from cellucid_cloud.catalog.processing import Outcome
from cellucid_cloud.local.stack import FIRST_CURATOR
from tests.api_server import CONTACT, SeededApi, seeded_api
from tests.export_data import make_adata


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededApi]:
    with seeded_api(tmp_path_factory.mktemp("curator-sees")) as api:
        yield api


@pytest.fixture(scope="module")
def curator(api: SeededApi) -> Iterator[httpx.Client]:
    with api.client(FIRST_CURATOR) as client:
        yield client


def drop(api: SeededApi, key: str, data: bytes) -> Outcome:
    """A file put straight into the uploads folder, as the worker's poller hands it over."""
    path = api.stack.uploads.path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return api.stack.processor.process(key)


def ok(reply: httpx.Response, status: int = 200) -> dict[str, object]:
    assert reply.status_code == status, reply.text
    body: dict[str, object] = reply.json()
    return body


def test_a_failed_versions_reason_reads_the_same_in_its_collection_and_its_meta(
    api: SeededApi, curator: httpx.Client
) -> None:
    cid = ok(curator.post("/curation/v1/collections", json={"name": "Draft", **CONTACT}), 201)[
        "collection_id"
    ]
    draft_id = ok(curator.get(f"/curation/v1/collections/{cid}"))["collection_version_id"]
    did = ok(curator.post(f"/curation/v1/collections/{cid}/datasets", json={"name": "Bad"}), 201)[
        "dataset_id"
    ]
    # Dropped by the draft's own id: the curator's key, and so the stored reason, names it.
    outcome = drop(api, f"{draft_id}/{did}.h5ad", b"this is not an HDF5 file")
    assert outcome.status == "failed", outcome
    own = ok(curator.get(f"/curation/v1/collections/{cid}/datasets/{did}"))
    assert own["status"] == "failed"
    assert str(own["reason"]).startswith(f"{draft_id}/{did}.h5ad: not an HDF5 AnnData file")

    with api.client() as public:
        [listed] = ok(public.get(f"/dp/v1/collections/{draft_id}"))["datasets"]  # type: ignore[misc]
        looked_up = ok(
            public.get("/dp/v1/datasets/meta", params={"url": f"/e/{outcome.version_id}/"})
        )
    assert listed["reason"] == looked_up["reason"]
    assert str(listed["reason"]).startswith(f"…/{did}.h5ad: not an HDF5 AnnData file")
    assert (listed["status"], looked_up["status"]) == ("failed", "failed")


def test_a_drop_into_a_published_collection_shows_on_its_dataset_as_refused(
    api: SeededApi, curator: httpx.Client, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cid, did = api.seeded.collection_id, api.seeded.dataset_id
    path = f"/curation/v1/collections/{cid}/datasets/{did}"
    before = ok(curator.get(path))
    assert before["refused_upload"] is None

    file = tmp_path_factory.mktemp("refused") / "newer.h5ad"
    make_adata(n_cells=30, n_genes=10, seed=3).write_h5ad(file)
    outcome = drop(api, f"{cid}/{did}.h5ad", file.read_bytes())
    assert outcome.status == "refused", outcome
    after = ok(curator.get(path))
    refused = after.pop("refused_upload")
    assert after == {k: v for k, v in before.items() if k != "refused_upload"}  # still ready
    assert isinstance(refused, dict)
    assert refused["file_name"] == f"{cid}/{did}.h5ad"
    assert refused["reason"] == (
        f"{cid}/{did}.h5ad: this collection is published; start a revision before uploading"
    )

    # A revision shows it too, until an upload accepted there replaces it.
    rid = ok(curator.post(f"/curation/v1/collections/{cid}/revision"), 201)["collection_id"]
    in_revision = f"/curation/v1/collections/{rid}/datasets/{did}"
    assert ok(curator.get(in_revision))["refused_upload"] == refused
    ok(curator.post(f"{in_revision}/upload-url", json={"size": 10, "file_name": "again.h5ad"}))
    assert ok(curator.get(in_revision))["refused_upload"] is None
    assert curator.delete(f"/curation/v1/collections/{rid}").status_code == 204


def test_an_upload_whose_put_failed_fails_as_its_url_expires(
    api: SeededApi, curator: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``up`` sees every PUT, so it needs no grace after the URL's expiry (AWS allows an hour
    for a PUT S3 may still be receiving): a URL whose PUT failed can be used again until it
    expires, and then the dataset says the file never came. A file that did arrive waits for
    the worker however long that takes (no worker runs here)."""
    cid = ok(curator.post("/curation/v1/collections", json={"name": "Cut", **CONTACT}), 201)[
        "collection_id"
    ]
    datasets = f"/curation/v1/collections/{cid}/datasets"
    cut, whole = (ok(curator.post(datasets, json={}), 201)["dataset_id"] for _ in range(2))
    issued = datetime.now(UTC)
    monkeypatch.setattr(api.stack.catalog, "clock", lambda: issued)
    grants = {
        did: ok(curator.post(f"{datasets}/{did}/upload-url", json={"size": 10, "file_name": name}))
        for did, name in ((cut, "cut.h5ad"), (whole, "whole.h5ad"))
    }
    sent = httpx.put(grants[cut]["url"], content=b"12345", headers=grants[cut]["headers"])
    assert sent.status_code == 400, sent.text
    assert ok(curator.get(f"{datasets}/{cut}"))["status"] == "waiting"  # the URL can be reused
    sent = httpx.put(grants[whole]["url"], content=b"0123456789", headers=grants[whole]["headers"])
    assert sent.status_code == 200, sent.text

    expired = issued + timedelta(seconds=int(grants[cut]["expires_in"]))
    monkeypatch.setattr(api.stack.catalog, "clock", lambda: expired)
    failed = ok(curator.get(f"{datasets}/{cut}"))
    assert (failed["status"], failed["reason"]) == (
        "failed",
        "cut.h5ad: no file arrived before the upload URL expired; upload it again",
    )
    monkeypatch.setattr(api.stack.catalog, "clock", lambda: issued + timedelta(days=1))
    assert ok(curator.get(f"{datasets}/{whole}"))["status"] == "waiting"
