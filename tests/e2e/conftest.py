"""Browser tests: one real ``cellucid-cloud up`` with a published collection, one headless chromium.

The collection (made through the curation API, as a curator would) holds:

* ``clusters`` — the controlled synthetic dataset of ``datasets.py``, published;
* ``small`` — a second published dataset (a sibling in the breadcrumb), with an open revision
  that re-uploads it, so it also has a private version URL;
* ``withdrawn`` — published, then removed by a published revision (tombstoned);
* an open revision that also adds ``revision-only dataset``.

Beside it: a second, newer public collection (``SECOND``) with one dataset, and a never
published collection (``DRAFT``) with ``draft-only dataset``. ``PRIVATE_NAMES`` must never show
on a public page.

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
from tests.e2e.browser import ARTIFACTS, CHROMIUM_ARGS, PHONE, VIEWPORT
from tests.e2e.datasets import clusters_adata
from tests.export_data import make_adata
from tests.local_up import Up, running_up, wait_for_status

COLLECTION = {
    "name": "E2E Atlas",
    # Markup in catalog text must show as text (docs/security.md, stored XSS).
    "description": 'browser tests <img src=x onerror="window.__xss = 1">',
    "contact_name": "Grace Hopper",
    "contact_email": "grace@example.org",
    "links": [{"name": "Preprint", "type": "DOI", "url": "https://doi.org/10.1000/e2e-atlas"}],
}
SECOND = {
    "name": "Second atlas of lymph nodes",
    "description": "published after the E2E Atlas",
    "contact_name": "Ada Lovelace",
    "contact_email": "ada@example.org",
}
DRAFT = {
    "name": "Embargoed draft atlas",
    "description": "not public yet",
    "contact_name": "Alan Turing",
    "contact_email": "alan@example.org",
}
PRIVATE_NAMES = (DRAFT["name"], "draft-only dataset", "revision-only dataset")
#: CELLxGENE schema columns given to the ``small`` dataset's obs.
SCHEMA_OBS = {
    "organism": ("Homo sapiens", "NCBITaxon:9606"),
    "tissue": ("lung", "UBERON:0002048"),
    "assay": ("10x 3' v3", "EFO:0009922"),
    "disease": ("normal", "PATO:0000461"),
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
    revision_id: str
    second_collection_id: str
    draft_collection_id: str
    draft_version_id: str
    upload_sizes: dict[str, int]

    def url(self, path: str) -> str:
        return f"{self.up.base_url}{path}"


def _upload(curator: httpx.Client, collection_id: str, dataset_id: str, data: bytes) -> None:
    grant = curator.post(
        f"/curation/v1/collections/{collection_id}/datasets/{dataset_id}/upload-url"
    )
    grant.raise_for_status()
    body = grant.json()
    httpx.put(body["url"], content=data, headers=body["headers"], timeout=60).raise_for_status()


def _schema_obs(adata: Any) -> Any:
    for field, (label, term) in SCHEMA_OBS.items():
        adata.obs[field] = label
        adata.obs[f"{field}_ontology_term_id"] = term
    return adata


def _dataset(curator: httpx.Client, collection_id: str, name: str, data: bytes) -> str:
    reply = curator.post(f"/curation/v1/collections/{collection_id}/datasets", json={"name": name})
    reply.raise_for_status()
    dataset_id: str = reply.json()["dataset_id"]
    _upload(curator, collection_id, dataset_id, data)
    return dataset_id


def _collection(curator: httpx.Client, metadata: dict[str, Any]) -> str:
    created = curator.post("/curation/v1/collections", json=metadata)
    created.raise_for_status()
    collection_id: str = created.json()["collection_id"]
    return collection_id


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
        "small": _schema_obs(make_adata(n_cells=150, n_genes=10, seed=1)),
        "withdrawn": make_adata(n_cells=120, n_genes=10, seed=2),
    }
    extra = {
        "second": make_adata(n_cells=90, n_genes=10, seed=3),
        "revision-only dataset": make_adata(n_cells=80, n_genes=10, seed=4),
        "draft-only dataset": make_adata(n_cells=70, n_genes=10, seed=5),
    }
    data: dict[str, bytes] = {}
    for name, adata in {**files, **extra}.items():
        path = root / f"{name.replace(' ', '-')}.h5ad"
        adata.write_h5ad(path)
        data[name] = path.read_bytes()
    with running_up(root / "data", "--meta-ttl", "0") as up, up.curator() as curator:
        cid = _collection(curator, COLLECTION)
        ids = {name: _dataset(curator, cid, name, data[name]) for name in files}
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
        added = _dataset(curator, rid, "revision-only dataset", data["revision-only dataset"])
        _ready(curator, rid, added)

        second = _collection(curator, SECOND)
        _ready(curator, second, _dataset(curator, second, "second", data["second"]))
        curator.post(f"/curation/v1/collections/{second}/publish").raise_for_status()

        draft = _collection(curator, DRAFT)
        _ready(
            curator,
            draft,
            _dataset(curator, draft, "draft-only dataset", data["draft-only dataset"]),
        )
        draft_version = curator.get(f"/curation/v1/collections/{draft}").json()

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
            revision_id=rid,
            second_collection_id=second,
            draft_collection_id=draft,
            draft_version_id=draft_version["collection_version_id"],
            upload_sizes={name: len(body) for name, body in data.items()},
        )


# Per module, not per session: while Playwright's sync API runs, its asyncio loop is the main
# thread's running loop, and Mangum (the Lambda handler tests) cannot run its own; with the
# suite spread over workers, handler tests may follow an e2e module in the same process.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


def _checked_page(browser: Browser, **context_options: Any) -> Iterator[Page]:
    """A fresh page; any uncaught script error or console error fails the test (except the
    browser's own notes on HTTP error statuses, which tests check through behaviour)."""
    context = browser.new_context(**context_options)
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


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from _checked_page(browser, viewport=VIEWPORT, device_scale_factor=1)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A 390 px wide phone (touch, 2x pixels), with the same error checks."""
    yield from _checked_page(
        browser, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )


@pytest.fixture(scope="module")
def png_decoder(browser: Browser) -> Iterator[Page]:
    """A blank page whose only job is decoding screenshots into pixels (no Pillow needed)."""
    decoder = browser.new_page()
    yield decoder
    decoder.close()
