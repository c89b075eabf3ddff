"""The Python client end to end against a real ``cellucid-cloud up``: curate, process, publish,
revise, and resolve what the explorer URLs show."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cellucid_cloud.client import Contact, CurationClient, ExplorerResolver
from tests.export_data import make_adata
from tests.local_up import Up, running_up

CONTACT = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.org"}


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    # The server caches nothing and says so (max-age=0): the resolver, though configured for a
    # minute, must then show every change at once.
    with running_up(tmp_path / "data", "--meta-ttl", "0") as stack:
        yield stack


def test_curate_publish_revise_resolve(up: Up, tmp_path: Path) -> None:
    files = {}
    for name, n_cells in (("a", 120), ("b", 90)):
        files[name] = tmp_path / f"{name}.h5ad"
        make_adata(n_cells=n_cells, n_genes=30, seed=n_cells).write_h5ad(files[name])
    broken = tmp_path / "broken.h5ad"
    broken.write_bytes(b"this is not HDF5")

    with (
        CurationClient(up.base_url, up.curator_key) as curator,
        ExplorerResolver(up.base_url, ttl=60) as resolver,
    ):
        cid = curator.create_collection("Lung", "Adult lung", **CONTACT)
        a_id = curator.create_dataset(cid, "A")
        b_id = curator.create_dataset(cid, "B")
        c_id = curator.create_dataset(cid, "C")
        curator.upload(cid, a_id, files["a"])
        curator.upload(cid, b_id, files["b"])
        curator.upload(cid, c_id, broken)
        a = curator.wait_until_processed(cid, a_id, timeout=120, poll=0.2)
        b = curator.wait_until_processed(cid, b_id, timeout=120, poll=0.2)
        c = curator.wait_until_processed(cid, c_id, timeout=120, poll=0.2)
        assert (a["status"], a["n_cells"]) == ("ready", 120)
        assert (b["status"], b["n_cells"]) == ("ready", 90)
        assert c["status"] == "failed" and c["reason"]
        curator.delete_dataset(cid, c_id)

        before = resolver.resolve(f"/e/{a_id}/")
        assert before.collection_visibility == "PRIVATE"
        assert before.dataset_version_id == a["dataset_version_id"]

        published = curator.publish(cid)
        assert published["visibility"] == "PUBLIC"

        found = resolver.resolve(f"https://viewer.example/e/{a_id}/")
        assert found.collection_visibility == "PUBLIC"
        assert (found.dataset_id, found.collection_id) == (a_id, cid)
        assert found.explorer_url == f"{up.base_url}/e/{a_id}/"
        assert found.export_url is not None and found.explorer_s3_uri is not None
        identity = httpx.get(found.export_url + "dataset_identity.json").json()
        assert identity["id"] == a_id
        listed = resolver.collection(cid)
        assert {d["dataset_id"] for d in listed["datasets"]} == {a_id, b_id}

        assert resolver.resolve(f"/e/{b_id}/").tombstoned is False
        revision = curator.start_revision(cid)
        curator.delete_dataset(revision, b_id)
        curator.publish(revision)

        withdrawn = resolver.resolve(f"/e/{b_id}/")
        assert withdrawn.tombstoned is True
        assert withdrawn.collection_id == cid
        assert withdrawn.contact == Contact(name="Ada Lovelace", email="ada@example.org")
        assert (withdrawn.export_url, withdrawn.explorer_s3_uri) == (None, None)
        assert resolver.resolve(f"/e/{a_id}/") == found
