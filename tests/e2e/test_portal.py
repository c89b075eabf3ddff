"""The public's pages in Chromium: the collections index, a collection's page (datasets,
Explore, Download, the withdrawn notice), private versions by their private id only, and no
private name on any public page."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.browser import ARTIFACTS, open_viewer
from tests.e2e.conftest import COLLECTION, DRAFT, PRIVATE_NAMES, SECOND, World
from tests.e2e.datasets import N_CELLS


def open_page(page: Page, url: str, state: str = "ready") -> None:
    page.goto(url)
    page.wait_for_selector(f"body[data-state={state}]", timeout=15_000)


def assert_no_markup_ran(page: Page) -> None:
    """The collection's description carries an <img onerror>: it must show as text only."""
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("main img").count() == 0


def test_index_lists_public_collections_newest_first(page: Page, world: World) -> None:
    open_page(page, world.url("/"))
    page.screenshot(path=ARTIFACTS / "portal-index.png", full_page=True)
    cards = page.locator(".collection-card")
    expect(cards).to_have_count(2)
    assert cards.locator("h2").all_inner_texts() == [SECOND["name"], COLLECTION["name"]]
    atlas = cards.nth(1)
    assert atlas.locator("h2 a").get_attribute("href") == f"/collections/{world.collection_id}"
    assert atlas.locator(".description").inner_text() == COLLECTION["description"]
    cells = f"{N_CELLS + 150:,}"
    assert atlas.locator(".counts").inner_text() == f"2 datasets · {cells} cells"
    assert cards.nth(0).locator(".counts").inner_text() == "1 dataset · 90 cells"
    assert_no_markup_ran(page)
    assert page.locator(".summary").inner_text() == "2 collections"
    open_page(page, world.url("/collections"))
    expect(cards).to_have_count(2)


def test_index_search_over_names_and_descriptions(page: Page, world: World) -> None:
    open_page(page, world.url("/collections"))
    search = page.locator("#search")
    search.fill("lymph")  # a word of SECOND's name
    expect(page.locator(".collection-card:visible h2")).to_have_text([SECOND["name"]])
    assert page.locator(".summary").inner_text() == "1 of 2 collections"
    search.fill("BROWSER tests")  # words of the atlas's description, any case
    expect(page.locator(".collection-card:visible h2")).to_have_text([COLLECTION["name"]])
    search.fill("no such collection")
    expect(page.locator(".collection-card:visible")).to_have_count(0)
    expect(page.locator(".empty")).to_have_text("No collection matches “no such collection”.")
    # The search is in the address, so a copied link opens it again.
    search.fill("lymph")
    page.wait_for_url("**/collections?q=lymph")
    open_page(page, page.url)
    assert page.locator("#search").input_value() == "lymph"
    expect(page.locator(".collection-card:visible")).to_have_count(1)


def test_collection_page_lists_datasets_to_explore_and_download(page: Page, world: World) -> None:
    open_page(page, world.url(f"/collections/{world.collection_id}"))
    page.screenshot(path=ARTIFACTS / "portal-collection.png", full_page=True)
    assert page.title() == f"{COLLECTION['name']} — Cellucid"
    assert page.locator("h1.collection-name").inner_text() == COLLECTION["name"]
    description = page.locator(".collection-description").inner_text()
    assert description == COLLECTION["description"]
    assert_no_markup_ran(page)
    contact = page.locator(".collection-facts a.contact-email")
    assert contact.inner_text() == COLLECTION["contact_name"]
    assert contact.get_attribute("href") == f"mailto:{COLLECTION['contact_email']}"
    link = page.locator(".collection-facts a.collection-link")
    assert link.inner_text() == "Preprint"
    assert link.get_attribute("href") == "https://doi.org/10.1000/e2e-atlas"
    assert page.locator(".private-banner").is_hidden()
    assert page.locator(".withdrawn-notice").is_hidden()

    headers = page.locator(".datasets thead th").all_inner_texts()
    assert headers[:7] == ["Dataset", "Cells", "Genes", "Organism", "Tissue", "Assay", "Disease"]
    rows = page.locator(".datasets tbody tr")
    expect(rows).to_have_count(2)
    by_name = {row.locator("td.name").inner_text(): row for row in rows.all()}
    assert set(by_name) == {"clusters", "small"}
    small, clusters = by_name["small"], by_name["clusters"]
    assert small.locator("td").nth(1).inner_text() == "150"
    assert small.locator("td").nth(2).inner_text() == "10"
    assert clusters.locator("td").nth(1).inner_text() == f"{N_CELLS:,}"
    # The CELLxGENE schema's terms where the obs follow it, a dash where they do not.
    assert [small.locator(f"td.{f}").inner_text() for f in ("organism", "tissue")] == [
        "Homo sapiens",
        "lung",
    ]
    assert [small.locator(f"td.{f}").inner_text() for f in ("assay", "disease")] == [
        "10x 3' v3",
        "normal",
    ]
    assert clusters.locator("td.organism").inner_text() == "–"

    explore = clusters.locator("a.explore")
    assert explore.get_attribute("href") == f"/e/{world.clusters.dataset_id}/"
    download = small.locator("a.download")
    size = world.upload_sizes["small"]
    assert download.locator(".size").inner_text() == f" ({_size(size)})"
    href = download.get_attribute("href")
    assert href is not None
    reply = httpx.get(href, follow_redirects=True, timeout=30)
    assert reply.status_code == 200
    assert len(reply.content) == size
    assert reply.content[:8] == b"\x89HDF\r\n\x1a\n"
    assert "attachment" in reply.headers["content-disposition"]

    explore.click()
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    crumb = page.locator(".crumb-collection")
    expect(crumb).to_have_text(COLLECTION["name"])
    crumb.click()
    page.wait_for_url(world.url(f"/collections/{world.collection_id}"))
    page.wait_for_selector("body[data-state=ready]")


def _size(size: int) -> str:
    """As the page writes sizes (site.js formatBytes)."""
    units = ["bytes", "kB", "MB", "GB", "TB"]
    value, unit = float(size), 0
    while value >= 1000 and unit < len(units) - 1:
        value /= 1000
        unit += 1
    return f"{size} bytes" if unit == 0 else f"{value:.{1 if value < 10 else 0}f} {units[unit]}"


def test_withdrawn_notice_with_the_contact(page: Page, world: World) -> None:
    open_page(
        page,
        world.url(f"/collections/{world.collection_id}?tombstoned_dataset_id={world.withdrawn_id}"),
    )
    page.screenshot(path=ARTIFACTS / "portal-withdrawn.png")
    notice = page.locator(".withdrawn-notice")
    expect(notice).to_be_visible()
    assert notice.locator("h2").inner_text() == "This dataset was withdrawn"
    assert notice.locator(".dataset-id").inner_text() == world.withdrawn_id
    email = notice.locator("a.contact-email")
    assert email.inner_text() == COLLECTION["contact_name"]
    assert email.get_attribute("href") == f"mailto:{COLLECTION['contact_email']}"
    assert page.locator(".datasets tbody tr").count() == 2  # the collection is still shown
    # Only a dataset that was really withdrawn from this collection gets a notice.
    for other in (world.clusters.dataset_id, "no-such-dataset"):
        open_page(
            page, world.url(f"/collections/{world.collection_id}?tombstoned_dataset_id={other}")
        )
        assert page.locator(".withdrawn-notice").is_hidden(), other


def test_the_viewer_withdrawn_page_links_to_the_collection_page(page: Page, world: World) -> None:
    open_viewer(page, world.url(f"/e/{world.withdrawn_id}/"), state="withdrawn")
    page.locator("main.message a.collection-link").click()
    page.wait_for_url(world.url(f"/collections/{world.collection_id}"))
    page.wait_for_selector("body[data-state=ready]")


def test_private_versions_only_by_their_private_id(page: Page, world: World) -> None:
    open_page(page, world.url(f"/collections/{world.revision_id}"))
    page.screenshot(path=ARTIFACTS / "portal-private-revision.png", full_page=True)
    expect(page.locator(".private-banner")).to_be_visible()
    assert "Private" in page.locator(".private-banner").inner_text()
    assert page.title().endswith("(private) — Cellucid")
    names = page.locator(".datasets td.name").all_inner_texts()
    assert sorted(names) == ["clusters", "revision-only dataset", "small"]
    # Inside a revision, datasets open by their private version URL.
    small = page.locator(".datasets tbody tr", has_text="small")
    assert small.locator("a.explore").get_attribute("href") == f"/e/{world.private_version_id}/"

    open_page(page, world.url(f"/collections/{world.draft_version_id}"))
    expect(page.locator(".private-banner")).to_be_visible()
    assert page.locator("h1.collection-name").inner_text() == DRAFT["name"]

    # The draft's canonical id shows nothing of it.
    open_page(page, world.url(f"/collections/{world.draft_collection_id}"), state="not-found")
    page.screenshot(path=ARTIFACTS / "portal-not-found.png")
    assert page.locator(".not-found h1").inner_text() == "Collection not found"
    assert DRAFT["name"] not in page.content()
    assert page.locator(".collection").is_hidden()


def test_no_private_name_on_any_public_page(page: Page, world: World) -> None:
    public = [
        "/",
        "/collections",
        f"/collections/{world.collection_id}",
        f"/collections/{world.collection_id}?tombstoned_dataset_id={world.withdrawn_id}",
        f"/collections/{world.second_collection_id}",
    ]
    secrets = [
        *PRIVATE_NAMES,
        world.revision_id,
        world.private_version_id,
        world.draft_collection_id,
        world.draft_version_id,
    ]
    for path in public:
        open_page(page, world.url(path))
        html = page.content()
        for secret in secrets:
            assert secret not in html, (path, secret)
    for dataset_id in (world.clusters.dataset_id, world.small.dataset_id):
        open_viewer(page, world.url(f"/e/{dataset_id}/"))
        page.locator("#about").click()
        expect(page.locator(".about-panel .collection-link")).to_have_text(COLLECTION["name"])
        page.locator(".crumb-dataset summary").click()
        html = page.content()
        for secret in secrets:
            assert secret not in html, (dataset_id, secret)


def test_pages_at_390_px(phone: Page, world: World) -> None:
    """A phone: nothing wider than the screen, the dataset table as one block per dataset."""
    for name, path in (
        ("index", "/"),
        ("collection", f"/collections/{world.collection_id}"),
        (
            "withdrawn",
            f"/collections/{world.collection_id}?tombstoned_dataset_id={world.withdrawn_id}",
        ),
    ):
        open_page(phone, world.url(path))
        phone.screenshot(path=ARTIFACTS / f"phone-portal-{name}.png", full_page=True)
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, (name, width)
    assert phone.locator(".datasets thead").is_hidden()
    row = phone.locator(".datasets tbody tr", has_text="small")
    assert (
        row.locator("td.organism").evaluate("td => getComputedStyle(td, '::before').content")
        == '"Organism: "'
    )
    box = row.locator("a.explore").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390
