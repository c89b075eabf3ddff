"""The whole loop through the real server: a registered viewer opened in the browser, a lasso
drawn with the mouse, and a Python ``Viewer`` hook receiving the cells; a saved session stored
and read back by the server's own ``.cellucid-session`` parser."""

from __future__ import annotations

import math
import time
from typing import Any

from playwright.sync_api import Page, expect

from cellucid_cloud.client import Viewer
from tests.e2e.browser import open_viewer, to_screen
from tests.e2e.conftest import World
from tests.e2e.datasets import N_CELLS, cluster_cells, clusters_adata


def test_lasso_reaches_a_python_viewer_hook(page: Page, world: World) -> None:
    with world.up.curator() as curator:
        reply = curator.post("/_cellucid/viewers", json={"dataset_id": world.clusters.dataset_id})
    assert reply.status_code == 201, reply.text
    registration = reply.json()
    selections: list[dict[str, Any]] = []
    with Viewer.from_registration(world.up.base_url, registration) as viewer:
        viewer.on_selection(selections.append)
        viewer.start(wait=1)
        open_viewer(page, registration["viewer_url"] + "&embedding=X_umap")
        ready = viewer.wait_for_ready(timeout=30)
        assert ready == {"type": "ready", "n_cells": N_CELLS, "dimensions": 2}

        screen = to_screen(page, world.clusters.reader().embedding("X_umap"))
        epsilon = cluster_cells(clusters_adata(), "epsilon")
        centre = screen[epsilon].mean(axis=0)
        radius = float(((screen[epsilon] - centre) ** 2).sum(axis=1).max() ** 0.5) + 25
        page.keyboard.down("Shift")
        page.mouse.move(centre[0] + radius, centre[1])
        page.mouse.down()
        for step in range(1, 37):
            angle = 2 * math.pi * step / 36
            page.mouse.move(
                centre[0] + radius * math.cos(angle), centre[1] + radius * math.sin(angle)
            )
        page.mouse.up()
        page.keyboard.up("Shift")

        event = viewer.wait_for_event("selection", timeout=30)
        assert event["cells"] == epsilon.tolist()
        assert event["source"] == "lasso"
        deadline = time.monotonic() + 10
        while not selections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert selections == [{"cells": epsilon.tolist(), "source": "lasso"}]

        page.locator("#save-session").click()
        stored = viewer.wait_for_event("session_bundle", timeout=30)
        bundle = viewer.get_session_bundle(stored["requestId"])
        assert bundle.version == 2
        assert bundle.dataset_fingerprint["datasetId"] == world.clusters.dataset_id
        assert bundle.chunk_ids() == [
            "core/state",
            "highlights/meta",
            "highlights/cells/selection",
        ]
        assert bundle.decode_chunk("core/state")["colorBy"] == {
            "kind": "category",
            "key": "cell_type",
        }
        expect(page.locator(".status .message")).to_have_text("Session saved")
