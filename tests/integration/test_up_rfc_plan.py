"""The metadata-API RFC's test plan, end to end over real HTTP against ``cellucid-cloud up``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.export_data import make_adata
from tests.local_up import Up, running_up, wait_for_status

CONTACT = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.org"}


def write_h5ad(path: Path, n_cells: int, seed: int) -> bytes:
    make_adata(n_cells=n_cells, n_genes=30, seed=seed).write_h5ad(path)
    return path.read_bytes()


def upload(curator: httpx.Client, collection_id: str, dataset_id: str, data: bytes) -> None:
    grant = curator.post(
        f"/curation/v1/collections/{collection_id}/datasets/{dataset_id}/upload-url"
    )
    assert grant.status_code == 200, grant.text
    body = grant.json()
    put = httpx.put(body["url"], content=data, headers=body.get("headers") or {}, timeout=60)
    assert put.status_code == 200, put.text


def meta(client: httpx.Client, url: str) -> httpx.Response:
    return client.get("/dp/v1/datasets/meta", params={"url": url})


def ready(
    curator: httpx.Client, collection_id: str, dataset_id: str, replacing: str | None = None
) -> dict[str, Any]:
    """The dataset once ready; with ``replacing``, once a version other than that one is."""
    path = f"/curation/v1/collections/{collection_id}/datasets/{dataset_id}"
    body = wait_for_status(curator, path, {"ready", "failed"}, replacing=replacing)
    assert body["status"] == "ready", body
    return body


@pytest.fixture
def up(tmp_path: Path) -> Any:
    with running_up(tmp_path / "data", "--meta-ttl", "0") as stack:
        yield stack


def test_rfc_test_plan(up: Up, tmp_path: Path) -> None:
    files = {
        name: write_h5ad(tmp_path / f"{name}.h5ad", n, seed)
        for name, n, seed in (("a1", 120, 1), ("b1", 90, 2), ("a2", 150, 3))
    }
    with up.curator() as curator, up.client() as public:
        created = curator.post("/curation/v1/collections", json={"name": "Lung", **CONTACT})
        assert created.status_code == 201, created.text
        cid = created.json()["collection_id"]
        a = curator.post(f"/curation/v1/collections/{cid}/datasets", json={"name": "A"})
        b = curator.post(f"/curation/v1/collections/{cid}/datasets", json={"name": "B"})
        assert a.status_code == b.status_code == 201
        a_id, b_id = a.json()["dataset_id"], b.json()["dataset_id"]

        upload(curator, cid, a_id, files["a1"])
        upload(curator, cid, b_id, files["b1"])
        a_v1, b_v1 = ready(curator, cid, a_id), ready(curator, cid, b_id)
        assert (a_v1["n_cells"], b_v1["n_cells"]) == (120, 90)

        published = curator.post(f"/curation/v1/collections/{cid}/publish")
        assert published.status_code == 200, published.text

        # Both canonical URLs resolve, to exports that exist.
        for dataset_id, version in ((a_id, a_v1), (b_id, b_v1)):
            answer = meta(public, f"https://example.org/e/{dataset_id}/").json()
            assert answer["dataset_version_id"] == version["dataset_version_id"]
            assert answer["collection_id"] == cid
            assert answer["collection_visibility"] == "PUBLIC"
            assert answer["tombstoned"] is False
            assert answer["explorer_url"] == f"{up.base_url}/e/{dataset_id}/"
            identity = httpx.get(answer["export_url"] + "dataset_identity.json")
            assert identity.status_code == 200
            assert identity.json()["id"] == dataset_id
        a_v1_identity = httpx.get(
            meta(public, f"/e/{a_id}").json()["export_url"] + "dataset_identity.json"
        ).content

        # A revision: refresh A, delete B.
        revision = curator.post(f"/curation/v1/collections/{cid}/revision")
        assert revision.status_code == 201, revision.text
        rid = revision.json()["collection_id"]
        assert rid != cid
        upload(curator, rid, a_id, files["a2"])
        a_v2 = ready(curator, rid, a_id, replacing=a_v1["dataset_version_id"])
        assert a_v2["dataset_version_id"] != a_v1["dataset_version_id"]
        assert a_v2["n_cells"] == 150
        assert curator.delete(f"/curation/v1/collections/{rid}/datasets/{b_id}").status_code == 204

        # The public URLs still show the old versions ...
        assert (
            meta(public, f"/e/{a_id}/").json()["dataset_version_id"] == a_v1["dataset_version_id"]
        )
        b_before = meta(public, f"/e/{b_id}/").json()
        assert b_before["tombstoned"] is False
        assert b_before["dataset_version_id"] == b_v1["dataset_version_id"]
        public_collection = public.get(f"/dp/v1/collections/{cid}").json()
        assert {d["dataset_id"] for d in public_collection["datasets"]} == {a_id, b_id}
        # ... and the revision's URLs are private version URLs.
        revision_doc = public.get(f"/dp/v1/collections/{rid}").json()
        assert revision_doc["visibility"] == "PRIVATE"
        [entry] = revision_doc["datasets"]
        assert entry["explorer_url"] == f"{up.base_url}/e/{a_v2['dataset_version_id']}/"
        private = meta(public, entry["explorer_url"]).json()
        assert private["collection_visibility"] == "PRIVATE"
        assert private["dataset_version_id"] == a_v2["dataset_version_id"]

        published = curator.post(f"/curation/v1/collections/{rid}/publish")
        assert published.status_code == 200, published.text

        # A's canonical URL now resolves to its new version; the old prefix is untouched.
        a_now = meta(public, f"http://elsewhere/e/{a_id}.cxg/").json()
        assert a_now["dataset_version_id"] == a_v2["dataset_version_id"]
        assert (
            httpx.get(a_now["export_url"] + "dataset_identity.json").json()["stats"]["n_cells"]
            == 150
        )
        old = httpx.get(a_v1["export_url"] + "dataset_identity.json")
        assert old.status_code == 200 and old.content == a_v1_identity
        # B answers tombstoned, with the contact and no location.
        b_now = meta(public, f"/e/{b_id}/")
        assert b_now.status_code == 200
        tomb = b_now.json()
        assert tomb["tombstoned"] is True
        assert tomb["collection_id"] == cid
        assert tomb["contact"] == {"name": "Ada Lovelace", "email": "ada@example.org"}
        assert "export_url" not in tomb and "explorer_s3_uri" not in tomb
        # The public collection lists only A.
        listed = public.get(f"/dp/v1/collections/{cid}").json()
        assert [d["dataset_id"] for d in listed["datasets"]] == [a_id]
        catalog = public.get("/datasets.json").json()
        assert [d["id"] for d in catalog["datasets"]] == [a_id]
