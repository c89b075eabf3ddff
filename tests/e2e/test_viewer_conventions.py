"""Our viewer uses what a curator's file says (issue 12, item 2): scanpy's category colours
(uns['<field>_colors'], carried as the obs manifest's category_colors) and the alternative
gene name set (the Ensembl ids beside CELLxGENE's feature_name symbols) in the gene search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from playwright.sync_api import Page, Route

from cellucid_cloud.export import prepare
from tests.e2e.browser import canvas_pixels, colour_mask, open_viewer
from tests.e2e.conftest import World
from tests.export_data import make_adata

COLOURS = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3"]
SYMBOLS = ["CD3E", "MS4A1", "NKG7", "LYZ", "GNLY", "CD14"]
IDS = [f"ENSG0000{i}" for i in range(6)]


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return (int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16))


def test_file_colours_and_alternative_gene_names(
    page: Page, world: World, tmp_path: Path, png_decoder: Page
) -> None:
    adata = make_adata(n_cells=400, n_genes=6, seed=7)
    adata.var = pd.DataFrame({"feature_name": SYMBOLS}, index=IDS)
    adata.uns["cell_type_colors"] = np.array(COLOURS)
    folder = tmp_path / "export"
    prepare(adata, folder)
    viewer = world.url(f"/e/{world.small.dataset_id}/?embedding=X_umap")
    open_viewer(page, viewer)
    base = page.evaluate("document.body.dataset.exportUrl")

    def serve(route: Route) -> None:
        relative = route.request.url.removeprefix(base).split("?")[0]
        route.fulfill(
            body=(folder / relative).read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        )

    page.context.route(f"{base}**", serve)
    open_viewer(page, viewer)
    page.select_option("#color-field", "obs:cell_type")
    page.wait_for_selector("body[data-color='category:cell_type']")
    swatches = page.locator(".legend-item .swatch").evaluate_all(
        "(nodes) => nodes.map((n) => n.style.background)"
    )
    expected = [f"rgb({r}, {g}, {b})" for r, g, b in map(_rgb, COLOURS)]
    assert swatches[:4] == expected
    image = canvas_pixels(page, png_decoder, "file-colours")
    for colour in COLOURS:
        assert colour_mask(image, _rgb(colour)).sum() > 20, colour

    search = page.locator("#gene")
    search.fill("ensg00003")
    options = page.locator("#gene-options [role=option]")
    assert options.all_inner_texts() == ["ENSG00003 (LYZ)"]
    search.press("Enter")
    page.wait_for_selector("body[data-color='gene:LYZ']")
    search.fill("nkg")
    assert options.all_inner_texts() == ["NKG7"]
