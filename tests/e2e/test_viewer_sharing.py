"""The viewer for people who share and use phones: the view in the URL (a copied link reopens
the same picture), viewer credentials kept out of it, the About panel, the selection's summary,
and the page at 390 px."""

from __future__ import annotations

import json
import math
from urllib.parse import parse_qs, urlsplit

import numpy as np
from playwright.sync_api import Page, Request, expect

from tests.e2e.browser import (
    ARTIFACTS,
    canvas_pixels,
    colour_mask,
    open_viewer,
    settle,
    to_screen,
)
from tests.e2e.conftest import COLLECTION, World
from tests.e2e.datasets import CLUSTERS, N_CELLS, cluster_cells, clusters_adata


def view_query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query, keep_blank_values=True)


def embeddings(world: World) -> tuple[str, list[str]]:
    """The clusters export's default embedding and its other 2D embeddings."""
    identity = json.loads(world.clusters.reader().raw("dataset_identity.json"))["embeddings"]
    default = identity["defaults"][f"{identity['default_dimension']}d"]
    others = [k for k, v in identity["items"].items() if v["dimension"] == 2 and k != default]
    return default, others


def wait_for_query(page: Page, key: str) -> None:
    page.wait_for_function(f"() => new URL(location.href).searchParams.has({key!r})")


def test_a_copied_link_reopens_the_same_picture(
    page: Page, world: World, png_decoder: Page
) -> None:
    base = world.url(f"/e/{world.clusters.dataset_id}/")
    open_viewer(page, base)
    assert urlsplit(page.url).query == ""  # the defaults need no parameters
    other = embeddings(world)[1][0]
    page.select_option("#embedding", other)
    page.locator(".legend-item", has_text="delta").click()
    page.locator(".legend-item", has_text="missing").click()
    box = page.locator("#plot").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.4)
    page.mouse.wheel(0, -300)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=5)
    page.mouse.up()
    wait_for_query(page, "camera")
    settle(page)
    query = view_query(page)
    assert query["embedding"] == [other]
    assert query["hide"] == ["delta"]
    assert query["hide_missing"] == ["1"]
    assert "color" not in query  # still the default field
    zoom = float(query["camera"][0].split(",")[2])
    assert zoom > 1
    before = canvas_pixels(page, png_decoder, "shared-before")

    again = page.context.new_page()
    open_viewer(again, page.url)
    assert again.locator("body").get_attribute("data-embedding") == other
    assert again.locator("body").get_attribute("data-hidden") == "2"
    expect(again.locator(".legend-item", has_text="delta")).to_have_attribute(
        "aria-pressed", "false"
    )
    after = canvas_pixels(again, png_decoder, "shared-after")
    different = np.abs(before.astype(np.int16) - after.astype(np.int16)).max(axis=2) > 40
    assert different.mean() < 0.005, different.mean()
    assert again.url == page.url
    again.close()


def test_gene_colouring_and_3d_camera_in_the_url(page: Page, world: World) -> None:
    base = world.url(f"/e/{world.clusters.dataset_id}/")
    open_viewer(
        page, f"{base}?embedding=X_umap_3d&color=gene:MARK3&camera=0.1,-0.2,0.5,1.2,0.3,2.5"
    )
    assert page.locator("body").get_attribute("data-color") == "gene:MARK3"
    assert page.locator("#color-field").input_value() == "gene:3"
    expect(page.locator(".legend-title")).to_have_text("Gene MARK3")
    assert page.locator("body").get_attribute("data-embedding") == "X_umap_3d"
    query = view_query(page)
    assert query.get("embedding", [embeddings(world)[0]]) == ["X_umap_3d"]
    assert query["color"] == ["gene:MARK3"]
    assert query["camera"] == ["0.1,-0.2,0.5,1.2,0.3,2.5"]
    # Colouring by a field again rewrites the parameter.
    page.select_option("#color-field", "obs:score")
    page.wait_for_function("() => location.search.includes('color=obs%3Ascore')")
    # What names nothing in this dataset falls back to the defaults, and leaves the URL.
    open_viewer(page, f"{base}?color=gene:NOPE&camera=1,2,x&embedding=nope&hide=alpha")
    assert page.locator("body").get_attribute("data-color") == "category:cell_type"
    assert page.locator("body").get_attribute("data-hidden") == "1"
    page.wait_for_function("() => location.search === '?hide=alpha'")


def test_viewer_credentials_stay_out_of_the_url_and_the_meta_lookup(
    page: Page, world: World
) -> None:
    with world.up.curator() as curator:
        reply = curator.post("/_cellucid/viewers", json={"dataset_id": world.clusters.dataset_id})
    assert reply.status_code == 201, reply.text
    registration = reply.json()
    token = registration["viewerToken"]
    requests: list[Request] = []
    # Playwright cannot wrap a builtin method as a listener, hence the lambda.
    page.on("request", lambda request: requests.append(request))  # noqa: PLW0108
    open_viewer(page, registration["viewer_url"])
    assert token not in page.url and "viewerId" not in page.url
    page.locator("#copy-link").click()
    expect(page.locator(".status .message")).to_contain_text("Link to this view")
    lookups = [r.url for r in requests if "/dp/v1/" in r.url]
    assert lookups and all(token not in url and "viewer" not in url for url in lookups)
    ready = [r for r in requests if r.url.endswith("/_cellucid/events") and r.method == "POST"]
    assert ready and token in (ready[0].post_data or "")
    # A reload in the same tab keeps reporting; the address still has no token.
    requests.clear()
    page.reload()
    page.wait_for_selector("body[data-state=ready]")
    settle(page)
    posted = [r for r in requests if r.url.endswith("/_cellucid/events")]
    assert posted and token in (posted[0].post_data or "")
    assert token not in page.url


def test_about_panel_describes_the_dataset_and_collection(page: Page, world: World) -> None:
    open_viewer(page, world.url(f"/e/{world.clusters.dataset_id}/"))
    page.locator("#about").click()
    panel = page.locator(".about-panel")
    expect(panel).to_be_visible()
    expect(panel.locator(".collection-link")).to_have_text(COLLECTION["name"])
    assert panel.locator("h2").inner_text() == "clusters"
    assert f"{N_CELLS:,} cells" in panel.locator(".facts").inner_text()
    assert panel.locator(".collection-link").get_attribute("href") == (
        f"/collections/{world.collection_id}"
    )
    assert COLLECTION["description"] in panel.inner_text()
    assert page.evaluate("() => window.__xss") is None
    email = panel.locator("a.contact-email")
    assert email.get_attribute("href") == f"mailto:{COLLECTION['contact_email']}"
    assert panel.locator(".links a").get_attribute("href") == "https://doi.org/10.1000/e2e-atlas"
    page.screenshot(path=ARTIFACTS / "about-panel.png")
    panel.locator("button.close").click()
    expect(panel).to_be_hidden()


def _lasso(page: Page, centre: np.ndarray, radius: float) -> None:
    page.keyboard.down("Shift")
    page.mouse.move(centre[0] + radius, centre[1])
    page.mouse.down()
    for step in range(1, 37):
        angle = 2 * math.pi * step / 36
        page.mouse.move(centre[0] + radius * math.cos(angle), centre[1] + radius * math.sin(angle))
    page.mouse.up()
    page.keyboard.up("Shift")


def test_selection_summary_counts_categories_and_compares_a_gene(page: Page, world: World) -> None:
    adata = clusters_adata()
    open_viewer(page, world.url(f"/e/{world.clusters.dataset_id}/?embedding=X_umap"))
    screen = to_screen(page, world.clusters.reader().embedding("X_umap"))
    epsilon = cluster_cells(adata, "epsilon")
    centre = screen[epsilon].mean(axis=0)
    radius = float(((screen[epsilon] - centre) ** 2).sum(axis=1).max() ** 0.5) + 25
    _lasso(page, centre, radius)
    panel = page.locator(".selection-panel")
    expect(panel).to_be_visible()
    share = 100 * len(epsilon) / N_CELLS
    expect(panel.locator(".panel-title")).to_have_text(f"Selection: 200 cells ({share:.1f} %)")
    assert panel.locator(".breakdown .name").all_inner_texts() == ["epsilon"]
    assert panel.locator(".breakdown .count").all_inner_texts() == ["200"]
    assert panel.locator(".means").count() == 0  # no gene shown yet

    gene = page.locator("#gene")
    gene.fill("MARK4")
    gene.press("Enter")
    page.wait_for_function("() => document.body.dataset.color === 'gene:MARK4'")
    values = world.clusters.reader().gene("MARK4").astype(np.float64)
    inside = np.zeros(N_CELLS, dtype=bool)
    inside[epsilon] = True
    expect(panel.locator(".means .inside")).to_have_text(f"{values[inside].mean():.4g}")
    assert panel.locator(".means .outside").inner_text() == "0"
    assert panel.locator("h3").all_inner_texts() == ["By cell_type", "Mean Gene MARK4"]
    page.screenshot(path=ARTIFACTS / "selection-summary.png")
    # A selection of several clusters, coloured by batch: counts per batch.
    _lasso(page, to_screen(page, np.zeros((1, 2), dtype=np.float32))[0], 310)  # every cell
    page.select_option("#color-field", "obs:batch")
    expect(panel.locator("h3").first).to_have_text("By batch")
    counts = [int(c.replace(",", "")) for c in panel.locator(".breakdown .count").all_inner_texts()]
    assert sum(counts) == N_CELLS
    assert panel.locator(".panel-title button").inner_text().startswith(f"Selection: {N_CELLS:,}")
    page.locator(".clear-selection").click()
    expect(panel).to_be_hidden()


#: The palette's first six colours (colors.js), one per cluster of the clusters dataset.
CLUSTER_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def test_viewer_at_390_px(phone: Page, world: World, png_decoder: Page) -> None:
    # The reset 2D and 3D views show every cluster on a portrait screen (none cut off).
    for embedding in ("X_umap_3d", "X_umap"):
        open_viewer(phone, world.url(f"/e/{world.clusters.dataset_id}/?embedding={embedding}"))
        pixels = canvas_pixels(phone, png_decoder, f"phone-viewer-{embedding}")
        for name, hex_colour in zip(CLUSTERS, CLUSTER_COLOURS, strict=True):
            rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
            assert colour_mask(pixels, rgb).sum() > 200, (embedding, name)
    phone.screenshot(path=ARTIFACTS / "phone-viewer.png")
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390
    # The toolbar is one row: the breadcrumb and a "View" button; the controls are folded away.
    topbar = phone.locator(".topbar").bounding_box()
    assert topbar is not None and topbar["height"] < 80, topbar
    assert phone.locator(".controls").is_hidden()
    # The legend starts folded: only its title shows, and a tap unfolds it.
    legend = phone.locator(".legend")
    expect(legend).to_have_class("legend folded")
    assert phone.locator(".legend-item").first.is_hidden()
    phone.locator(".legend-title button").tap()
    expect(phone.locator(".legend-item").first).to_be_visible()
    legend_box = legend.bounding_box()
    assert legend_box is not None and legend_box["width"] <= 390 * 0.56
    phone.screenshot(path=ARTIFACTS / "phone-viewer-legend.png")
    phone.locator(".legend-title button").tap()
    toggle = phone.locator(".menu-toggle")
    toggle.tap()
    expect(phone.locator(".controls")).to_be_visible()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390
    for control in ("#embedding", "#color-field", "#gene", "#lasso", "#about"):
        box = phone.locator(control).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, control
    phone.screenshot(path=ARTIFACTS / "phone-viewer-controls.png")
    phone.locator("#about").tap()
    expect(phone.locator(".about-panel")).to_be_visible()
    phone.screenshot(path=ARTIFACTS / "phone-viewer-about.png")
