"""The page around the plot: withdrawn, unknown and not-ready datasets, private revision URLs,
the breadcrumb, and how the page and its assets are served."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, Route, expect

from tests.e2e.browser import ARTIFACTS, open_viewer
from tests.e2e.conftest import COLLECTION, World


def test_withdrawn_dataset_shows_the_contact(page: Page, world: World) -> None:
    open_viewer(page, world.url(f"/e/{world.withdrawn_id}/"), state="withdrawn")
    page.screenshot(path=ARTIFACTS / "withdrawn.png")
    main = page.locator("main.message")
    assert main.locator("h1").inner_text() == "This dataset was withdrawn"
    text = main.inner_text()
    assert COLLECTION["contact_name"] in text
    email = main.locator("a.contact-email")
    assert email.inner_text() == COLLECTION["contact_email"]
    assert email.get_attribute("href") == f"mailto:{COLLECTION['contact_email']}"
    collection = main.locator("a.collection-link")
    assert collection.inner_text() == COLLECTION["name"]
    assert collection.get_attribute("href") == f"/collections/{world.collection_id}"
    assert page.locator("#plot").is_hidden()


def test_unknown_url_shows_not_found(page: Page, world: World) -> None:
    open_viewer(page, world.url("/e/no-such-dataset/"), state="not-found")
    page.screenshot(path=ARTIFACTS / "not-found.png")
    assert page.locator("main.message h1").inner_text() == "Dataset not found"
    assert page.title() == "Dataset not found — Cellucid"


def test_dataset_without_an_export_yet(page: Page, world: World) -> None:
    def processing(route: Route) -> None:
        route.fulfill(
            json={
                "dataset_id": "d",
                "dataset_version_id": "v",
                "collection_id": world.collection_id,
                "collection_visibility": "PRIVATE",
                "explorer_url": world.url("/e/v/"),
                "explorer_s3_uri": None,
                "export_url": None,
                "tombstoned": False,
            }
        )

    page.route("**/dp/v1/datasets/meta?**", processing)
    open_viewer(page, world.url("/e/v/"), state="processing")
    assert "not ready yet" in page.locator("main.message h1").inner_text()


def test_private_revision_url_and_breadcrumb(page: Page, world: World) -> None:
    open_viewer(page, world.url(f"/e/{world.private_version_id}/"))
    page.locator(".private-badge").wait_for(state="visible", timeout=15_000)
    assert page.locator(".dataset-name").inner_text() == "small"
    open_viewer(page, world.url(f"/e/{world.clusters.dataset_id}/"))
    assert page.locator(".private-badge").is_hidden()
    crumb = page.locator(".crumb-collection")
    expect(crumb).to_have_text(COLLECTION["name"])  # the collection arrives after the cells
    assert crumb.get_attribute("href") == f"/collections/{world.collection_id}"
    page.locator(".crumb-dataset summary").click()
    menu = page.locator(".dataset-menu a")
    expect(menu).to_have_count(2)
    hrefs = sorted(menu.evaluate_all("links => links.map(a => a.href)"))
    assert hrefs == sorted(
        world.url(f"/e/{d}/") for d in (world.clusters.dataset_id, world.small.dataset_id)
    )
    assert page.locator(".dataset-menu a[aria-current=page]").get_attribute("href") == world.url(
        f"/e/{world.clusters.dataset_id}/"
    )
    page.screenshot(path=ARTIFACTS / "breadcrumb-menu.png")
    page.locator(".dataset-menu a", has_text="small").click()
    page.wait_for_url(world.url(f"/e/{world.small.dataset_id}/"))
    page.wait_for_selector("body[data-state=ready]")


def test_page_and_assets_are_served_for_revalidation(world: World) -> None:
    with httpx.Client(base_url=world.up.base_url) as client:
        bare = client.get(f"/e/{world.clusters.dataset_id}?viewerId=a&viewerToken=b")
        assert bare.status_code == 308
        assert bare.headers["location"] == f"{world.clusters.dataset_id}/?viewerId=a&viewerToken=b"
        page = client.get(f"/e/{world.clusters.dataset_id}/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        assert "default-src 'self'" in page.headers["content-security-policy"]
        script = client.get("/viewer/app.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert script.headers["cache-control"] == "no-cache"
        again = client.get("/viewer/app.js", headers={"If-None-Match": script.headers["etag"]})
        assert again.status_code == 304
        assert client.get("/viewer/%2e%2e/catalog.sqlite3").status_code == 404
        assert client.post("/viewer/app.js").status_code == 405
