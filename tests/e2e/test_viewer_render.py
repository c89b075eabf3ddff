"""What the viewer draws, checked on screenshot pixels."""

from __future__ import annotations

import numpy as np
from playwright.sync_api import Page

from tests.e2e.browser import (
    BACKGROUND,
    MISSING_GREY,
    canvas_pixels,
    colour_mask,
    open_viewer,
    plot_box,
    settle,
    to_screen,
)
from tests.e2e.conftest import World
from tests.e2e.datasets import CLUSTERS, cluster_cells, clusters_adata


def _cluster_centre(page: Page, world: World, name: str) -> tuple[int, int]:
    """A cluster's centre in canvas pixels (screenshot coordinates)."""
    xy = world.clusters.reader().embedding("X_umap")
    centre = to_screen(page, xy[cluster_cells(clusters_adata(), name)]).mean(axis=0)
    box = plot_box(page)
    return round(centre[0] - box["x"]), round(centre[1] - box["y"])


def _patch(image: np.ndarray, at: tuple[int, int], half: int = 20) -> np.ndarray:
    x, y = at
    return image[y - half : y + half, x - half : x + half].reshape(-1, 3)


def _distinct_colours(image: np.ndarray, min_pixels: int = 300) -> int:
    """Colours (quantised to 16 levels per channel) covering at least min_pixels, background and
    greys excluded."""
    rgb = image.reshape(-1, 3).astype(np.int16)
    coloured = (rgb.max(axis=1) - rgb.min(axis=1)) > 30
    keys = (rgb[coloured] // 16) @ np.array([256, 16, 1])
    _, counts = np.unique(keys, return_counts=True)
    return int((counts >= min_pixels).sum())


def test_clusters_are_drawn_in_distinct_colours(
    page: Page, world: World, png_decoder: Page
) -> None:
    open_viewer(page, world.url(f"/e/{world.clusters.dataset_id}/?embedding=X_umap"))
    assert page.evaluate("document.body.dataset.color") == "category:cell_type"
    image = canvas_pixels(page, png_decoder, "clusters-cell-type")
    not_background = ~colour_mask(image, BACKGROUND, tolerance=3)
    assert not_background.mean() > 0.02, "the canvas is (nearly) blank"
    assert _distinct_colours(image) >= len(CLUSTERS)
    # Each cluster's centre is painted, in a colour of its own.
    centre_colours = set()
    for name in CLUSTERS:
        patch = _patch(image, _cluster_centre(page, world, name), half=4)
        values, counts = np.unique(patch, axis=0, return_counts=True)
        colour = tuple(int(v) for v in values[counts.argmax()])
        assert colour != BACKGROUND, name
        centre_colours.add(colour)
    assert len(centre_colours) == len(CLUSTERS)
    # The legend lists every category with its count, and the one missing cell.
    assert page.locator(".legend-item .name").all_inner_texts() == [*CLUSTERS, "missing"]
    assert page.locator(".legend-item .count").all_inner_texts() == ["200"] * 6 + ["1"]


def test_gene_colouring_changes_the_picture(page: Page, world: World, png_decoder: Page) -> None:
    open_viewer(page, world.url(f"/e/{world.clusters.dataset_id}/?embedding=X_umap"))
    before = canvas_pixels(page, png_decoder, "gene-before")
    search = page.locator("#gene")
    search.fill("mark")
    options = page.locator("#gene-options [role=option]")
    assert options.all_inner_texts() == [f"MARK{c}" for c in range(6)]
    search.fill("MARK2")
    search.press("Enter")
    page.wait_for_selector("body[data-color='gene:MARK2']")
    settle(page)
    after = canvas_pixels(page, png_decoder, "gene-MARK2")
    changed = np.abs(after.astype(np.int16) - before).max(axis=2) > 40
    assert changed.mean() > 0.01, "colouring by a gene left the picture as it was"
    # The colour bar shows the manifest's bounds for the gene.
    var = world.clusters.reader().manifests.var
    assert var is not None
    entry = next(f for f in var.fields if f.key == "MARK2")
    bar = page.locator(".colorbar")
    assert float(bar.get_attribute("data-min") or "nan") == entry.low
    assert float(bar.get_attribute("data-max") or "nan") == entry.high
    # Cells of gamma (which express MARK2) are bright; the others sit at the dark end.
    gamma = _patch(after, _cluster_centre(page, world, "gamma"), half=4).astype(int)
    alpha = _patch(after, _cluster_centre(page, world, "alpha"), half=4).astype(int)
    assert gamma.sum(axis=1).mean() > alpha.sum(axis=1).mean() + 150


def test_continuous_field_and_missing_values(page: Page, world: World, png_decoder: Page) -> None:
    open_viewer(page, world.url(f"/e/{world.clusters.dataset_id}/?embedding=X_umap"))
    page.select_option("#color-field", "obs:score")
    page.wait_for_selector("body[data-color='continuous:score']")
    settle(page)
    image = canvas_pixels(page, png_decoder, "continuous-score")
    # zeta's score is NaN in the AnnData: drawn in the missing grey, and counted under the bar.
    zeta = _patch(image, _cluster_centre(page, world, "zeta"), half=4)
    assert colour_mask(zeta[None], MISSING_GREY).mean() > 0.5
    beta = _patch(image, _cluster_centre(page, world, "beta"), half=4)
    assert colour_mask(beta[None], MISSING_GREY).mean() < 0.1
    assert page.locator(".legend-missing .count").inner_text() == "200"
    score = world.clusters.reader().continuous("score")
    bar = page.locator(".colorbar")
    assert float(bar.get_attribute("data-min") or "nan") == np.nanmin(score)
    assert float(bar.get_attribute("data-max") or "nan") == np.nanmax(score)


def test_legend_click_hides_and_shows_a_category(
    page: Page, world: World, png_decoder: Page
) -> None:
    open_viewer(page, world.url(f"/e/{world.clusters.dataset_id}/?embedding=X_umap"))
    centre = _cluster_centre(page, world, "delta")
    shown = _patch(canvas_pixels(page, png_decoder, "legend-before"), centre, half=6)
    assert colour_mask(shown[None], BACKGROUND).mean() < 0.5
    page.locator(".legend-item", has_text="delta").click()
    page.wait_for_selector("body[data-hidden='1']")
    settle(page)
    hidden = _patch(canvas_pixels(page, png_decoder, "legend-delta-hidden"), centre, half=40)
    assert colour_mask(hidden[None], BACKGROUND).all(), "delta's cells are still drawn"
    assert page.locator(".legend-item", has_text="delta").get_attribute("aria-pressed") == "false"
    page.locator(".legend-item", has_text="delta").click()
    page.wait_for_selector("body[data-hidden='0']")
    settle(page)
    again = _patch(canvas_pixels(page, png_decoder, "legend-delta-shown"), centre, half=6)
    assert np.array_equal(again, shown)


def test_3d_orbit_zoom_and_embedding_switch(page: Page, world: World, png_decoder: Page) -> None:
    open_viewer(page, world.url(f"/e/{world.clusters.dataset_id}/?embedding=X_umap_3d"))
    assert page.evaluate("document.body.dataset.embedding") == "X_umap_3d"
    start = canvas_pixels(page, png_decoder, "3d-start")
    assert _distinct_colours(start) >= len(CLUSTERS)
    box = plot_box(page)
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 150, cy + 40, steps=8)
    page.mouse.up()
    settle(page)
    orbited = canvas_pixels(page, png_decoder, "3d-orbited")
    assert (np.abs(orbited.astype(np.int16) - start).max(axis=2) > 40).mean() > 0.01
    page.mouse.wheel(0, -600)
    settle(page)
    zoomed = canvas_pixels(page, png_decoder, "3d-zoomed")
    assert (np.abs(zoomed.astype(np.int16) - orbited).max(axis=2) > 40).mean() > 0.01
    page.select_option("#embedding", "X_umap")
    page.wait_for_selector("body[data-embedding='X_umap']")
    settle(page)
    flat = canvas_pixels(page, png_decoder, "2d-after-switch")
    assert _distinct_colours(flat) >= len(CLUSTERS)
    centre = _patch(flat, _cluster_centre(page, world, "epsilon"), half=4)
    assert colour_mask(centre[None], BACKGROUND).mean() < 0.5
