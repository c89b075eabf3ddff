"""A dataset without an export, seen through its URL: a failed one says it failed and why; one
on its way says so and opens by itself once it is ready."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from cellucid_cloud.client import CurationClient
from tests.e2e.browser import ARTIFACTS, open_viewer
from tests.e2e.conftest import COLLECTION, World
from tests.export_data import make_adata


@pytest.fixture
def curator(world: World) -> Iterator[tuple[CurationClient, str]]:
    with CurationClient(world.up.base_url, world.up.curator_key) as client:
        yield (
            client,
            client.create_collection(
                "Status pages",
                contact_name=COLLECTION["contact_name"],
                contact_email=COLLECTION["contact_email"],
            ),
        )


def test_a_failed_dataset_says_why(
    page: Page, world: World, curator: tuple[CurationClient, str], tmp_path: Path
) -> None:
    client, cid = curator
    did = client.create_dataset(cid, "broken")
    bad = tmp_path / "broken.h5ad"
    bad.write_bytes(b"this is not an HDF5 file\n" * 100)
    client.upload(cid, did, bad)
    dataset = client.wait_until_processed(cid, did, timeout=120, poll=0.2)
    assert dataset["status"] == "failed", dataset

    open_viewer(page, world.url(f"/e/{did}/"), state="failed")
    page.screenshot(path=ARTIFACTS / "failed.png")
    main = page.locator("main.message")
    assert main.locator("h1").inner_text() == "This dataset could not be processed"
    shown = main.locator(".reason").inner_text()
    assert dataset["reason"].split(": ")[-1] in shown  # what is wrong with the file
    assert "reload" not in main.inner_text().lower()
    private = {client.get_collection(cid)["collection_version_id"], str(world.up.data_dir)}
    assert not any(text in main.inner_text() for text in private)


def test_a_dataset_on_its_way_opens_by_itself_when_ready(
    page: Page, world: World, curator: tuple[CurationClient, str], tmp_path: Path
) -> None:
    client, cid = curator
    did = client.create_dataset(cid, "arriving")
    open_viewer(page, world.url(f"/e/{did}/"), state="processing")
    text = page.locator("main.message").inner_text()
    assert "opens it by itself" in text and "reload" not in text.lower()

    good = tmp_path / "arriving.h5ad"
    make_adata(n_cells=120, n_genes=8, seed=3).write_h5ad(good)
    client.upload(cid, did, good)
    page.wait_for_selector("body[data-state=ready]", timeout=120_000)
    assert page.locator("main.message").is_hidden()
