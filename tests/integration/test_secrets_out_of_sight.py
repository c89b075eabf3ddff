"""No secret in ``up``'s access log, no server path in a public answer (issue 15, finding 10).

The viewer page itself keeps its token out of the meta lookup:
``e2e/test_viewer_sharing.py::test_viewer_credentials_stay_out_of_the_url_and_the_meta_lookup``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from cellucid_cloud.client import CurationClient
from cellucid_cloud.serve.access_log import REDACTED, redact_target
from tests.export_data import make_adata
from tests.local_up import running_up

CONTACT = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.org"}


def test_the_access_log_names_no_token(tmp_path: Path) -> None:
    """Viewer tokens (the viewer page, the events routes, a viewer URL inside the meta
    lookup's ``url``, encoded or not), upload URL tokens and bearer tokens: none reaches the
    log of a real ``up``, which still logs each request."""
    h5ad = tmp_path / "cells.h5ad"
    make_adata(n_cells=50, n_genes=8).write_h5ad(h5ad)
    with (
        running_up(tmp_path / "data") as up,
        CurationClient(up.base_url, up.curator_key) as curator,
        up.curator() as bearer,
    ):
        collection = curator.create_collection(name="Logs", **CONTACT)
        dataset = curator.create_dataset(collection)
        grant = curator.upload(collection, dataset, h5ad)
        curator.wait_until_processed(collection, dataset, poll=0.2)
        viewer = curator.register_viewer(dataset)
        token, viewer_url = viewer["viewerToken"], viewer["viewer_url"]
        creds = {"viewerId": viewer["viewerId"], "viewerToken": token}
        with httpx.Client(base_url=up.base_url) as client:
            assert client.get(viewer_url).status_code == 200
            meta = "/dp/v1/datasets/meta?url="
            assert client.get(f"{meta}{quote(viewer_url, safe='')}").status_code == 200
            assert client.get(f"{meta}{viewer_url}").status_code == 200
            assert client.get("/_cellucid/events", params=creds).status_code == 200
            assert client.get("/_cellucid/events", params={**creds, "wait": "x"}).status_code == 422
        secrets = {
            "viewer token": token,
            "upload token": grant.url.split("token=", 1)[1],
            "bearer token": str(bearer.headers["Authorization"]).removeprefix("Bearer "),
        }
        api_key = up.curator_key
    log = "".join(path.read_text() for path in tmp_path.glob("up-*.log"))
    assert "GET /_cellucid/events?" in log and "PUT /_cellucid/upload?" in log
    leaked = [name for name, secret in secrets.items() if secret in log]
    assert leaked == [], leaked
    assert REDACTED in log
    assert log.count(api_key) == 1  # announced at first start (DESIGN §8), never logged again


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/e/x/?viewerId=v&viewerToken=s3cret", f"/e/x/?viewerId=v&viewerToken={REDACTED}"),
        ("/_cellucid/upload?token=a.b.c", f"/_cellucid/upload?token={REDACTED}"),
        ("/x?ViewerToken=s&viewertoken=t", f"/x?ViewerToken={REDACTED}&viewertoken={REDACTED}"),
        (
            "/dp/v1/datasets/meta?url=http%3A%2F%2Fh%2Fe%2Fx%2F%3FviewerId%3Dv%26viewerToken%3Ds3cret",
            "/dp/v1/datasets/meta?url=http%3A%2F%2Fh%2Fe%2Fx%2F%3FviewerId%3Dv%26viewerToken%3D"
            + REDACTED,
        ),
        ("/e/x/", "/e/x/"),
        ("/datasets.json?a=1&b", "/datasets.json?a=1&b="),
    ],
)
def test_redacted_targets(target: str, expected: str) -> None:
    assert redact_target(target) == expected


def test_nesting_too_deep_is_dropped_whole() -> None:
    target = "/a?u=" + quote("/b?u=" + quote("/c?u=" + quote("/d?viewerToken=s3cret", safe="")))
    assert "s3cret" not in redact_target(target)


def test_no_public_answer_names_a_path_of_the_server(tmp_path: Path) -> None:
    """The meta answer names the export by the URL path ``up`` serves it at (it was
    ``file:///<data dir>/exports/…``); the collection and catalog documents neither."""
    h5ad = tmp_path / "cells.h5ad"
    make_adata(n_cells=50, n_genes=8).write_h5ad(h5ad)
    with (
        running_up(tmp_path / "data") as up,
        CurationClient(up.base_url, up.curator_key) as curator,
    ):
        collection = curator.create_collection(name="Paths", **CONTACT)
        dataset = curator.create_dataset(collection)
        curator.upload(collection, dataset, h5ad)
        curator.wait_until_processed(collection, dataset, poll=0.2)
        curator.publish(collection)
        with httpx.Client(base_url=up.base_url) as client:
            meta = client.get("/dp/v1/datasets/meta", params={"url": f"/e/{dataset}/"}).json()
            version = meta["dataset_version_id"]
            assert meta["explorer_s3_uri"] == meta["s3_uri"] == f"/exports/{version}/"
            assert client.get(meta["s3_uri"] + "dataset_identity.json").status_code == 200
            answers = [
                client.get("/dp/v1/datasets/meta", params={"url": f"/e/{dataset}/"}).text,
                client.get(f"/dp/v1/collections/{collection}").text,
                client.get("/datasets.json").text,
                client.get("/_cellucid/datasets").text,
            ]
    for answer in answers:
        assert str(tmp_path) not in answer and "file:" not in answer, answer
