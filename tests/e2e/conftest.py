"""Browser tests: one real ``cellucid-cloud up`` with a published collection, one headless chromium.

The collection (made through the curation API, as a curator would) holds:

* ``clusters`` — the controlled synthetic dataset of ``datasets.py``, published;
* ``small`` — a second published dataset (a sibling in the breadcrumb), with an open revision
  that re-uploads it, so it also has a private version URL;
* ``withdrawn`` — published, then removed by a published revision (tombstoned).

Screenshots go to ``tests/e2e/artifacts/`` (ignored by git).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from cellucid_cloud.export.reader import ExportReader
from tests.e2e.browser import ARTIFACTS, CHROMIUM_ARGS, VIEWPORT
from tests.e2e.datasets import clusters_adata
from tests.export_data import make_adata
from tests.local_up import Up, running_up, wait_for_status

COLLECTION = {
    "name": "E2E Atlas",
    "description": "browser tests",
    "contact_name": "Grace Hopper",
    "contact_email": "grace@example.org",
}


@dataclass
class Published:
    dataset_id: str
    version_id: str
    export_dir: Path

    def reader(self) -> ExportReader:
        return ExportReader(self.export_dir)


@dataclass
class World:
    up: Up
    collection_id: str
    clusters: Published
    small: Published
    withdrawn_id: str
    private_version_id: str

    def url(self, path: str) -> str:
        return f"{self.up.base_url}{path}"


def _upload(curator: httpx.Client, collection_id: str, dataset_id: str, data: bytes) -> None:
    grant = curator.post(
        f"/curation/v1/collections/{collection_id}/datasets/{dataset_id}/upload-url"
    )
    grant.raise_for_status()
    body = grant.json()
    httpx.put(body["url"], content=data, headers=body["headers"], timeout=60).raise_for_status()


def _ready(
    curator: httpx.Client, collection_id: str, dataset_id: str, replacing: str | None = None
) -> dict[str, Any]:
    body = wait_for_status(
        curator,
        f"/curation/v1/collections/{collection_id}/datasets/{dataset_id}",
        {"ready", "failed"},
        replacing=replacing,
    )
    assert body["status"] == "ready", body
    return body


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("e2e")
    files = {
        "clusters": clusters_adata(),
        "small": make_adata(n_cells=150, n_genes=10, seed=1),
        "withdrawn": make_adata(n_cells=120, n_genes=10, seed=2),
    }
    data: dict[str, bytes] = {}
    for name, adata in files.items():
        adata.write_h5ad(root / f"{name}.h5ad")
        data[name] = (root / f"{name}.h5ad").read_bytes()
    with running_up(root / "data", "--meta-ttl", "0") as up, up.curator() as curator:
        created = curator.post("/curation/v1/collections", json=COLLECTION)
        created.raise_for_status()
        cid = created.json()["collection_id"]
        ids: dict[str, str] = {}
        for name in files:
            reply = curator.post(f"/curation/v1/collections/{cid}/datasets", json={"name": name})
            reply.raise_for_status()
            ids[name] = reply.json()["dataset_id"]
            _upload(curator, cid, ids[name], data[name])
        versions = {name: _ready(curator, cid, ids[name]) for name in files}
        curator.post(f"/curation/v1/collections/{cid}/publish").raise_for_status()

        withdraw = curator.post(f"/curation/v1/collections/{cid}/revision")
        withdraw.raise_for_status()
        rid = withdraw.json()["collection_id"]
        deleted = curator.delete(f"/curation/v1/collections/{rid}/datasets/{ids['withdrawn']}")
        assert deleted.status_code == 204, deleted.text
        curator.post(f"/curation/v1/collections/{rid}/publish").raise_for_status()

        revision = curator.post(f"/curation/v1/collections/{cid}/revision")
        revision.raise_for_status()
        rid = revision.json()["collection_id"]
        _upload(curator, rid, ids["small"], data["small"])
        private = _ready(
            curator, rid, ids["small"], replacing=versions["small"]["dataset_version_id"]
        )

        def published(name: str) -> Published:
            vid = versions[name]["dataset_version_id"]
            return Published(ids[name], vid, up.data_dir / "exports" / vid)

        yield World(
            up=up,
            collection_id=cid,
            clusters=published("clusters"),
            small=published("small"),
            withdrawn_id=ids["withdrawn"],
            private_version_id=private["dataset_version_id"],
        )


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page; any uncaught script error or console error fails the test (except the
    browser's own notes on HTTP error statuses, which tests check through behaviour)."""
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    opened.on("console", console)
    yield opened
    context.close()
    assert not errors, errors


@pytest.fixture(scope="session")
def png_decoder(browser: Browser) -> Iterator[Page]:
    """A blank page whose only job is decoding screenshots into pixels (no Pillow needed)."""
    decoder = browser.new_page()
    yield decoder
    decoder.close()
