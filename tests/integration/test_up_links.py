"""Ingesting a dataset from a link, against ``up`` and a real file server."""

from __future__ import annotations

from pathlib import Path

from tests.export_data import make_adata
from tests.file_server import file_server
from tests.local_up import running_up, wait_for_status

CONTACT = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.org"}


def test_link_ingestion_succeeds_or_fails_with_a_reason(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    make_adata(n_cells=70, n_genes=15).write_h5ad(files / "pbmc.h5ad")
    with (
        file_server(files) as files_url,
        running_up(tmp_path / "data", "--allow-private-links") as up,
        up.curator() as curator,
    ):
        cid = curator.post("/curation/v1/collections", json={"name": "C", **CONTACT}).json()[
            "collection_id"
        ]
        good = curator.post(f"/curation/v1/collections/{cid}/datasets").json()["dataset_id"]
        gone = curator.post(f"/curation/v1/collections/{cid}/datasets").json()["dataset_id"]
        for dataset_id, link in ((good, "pbmc.h5ad"), (gone, "missing.h5ad")):
            accepted = curator.put(
                f"/curation/v1/collections/{cid}/datasets/{dataset_id}",
                json={"link": f"{files_url}/{link}"},
            )
            assert accepted.status_code == 202, accepted.text
        done = wait_for_status(
            curator, f"/curation/v1/collections/{cid}/datasets/{good}", {"ready", "failed"}
        )
        assert done["status"] == "ready" and done["n_cells"] == 70
        failed = wait_for_status(
            curator, f"/curation/v1/collections/{cid}/datasets/{gone}", {"ready", "failed"}
        )
        assert failed["status"] == "failed" and "404" in failed["reason"]
        bad = curator.put(
            f"/curation/v1/collections/{cid}/datasets/{good}", json={"link": "ftp://x/y"}
        )
        assert bad.status_code == 422
