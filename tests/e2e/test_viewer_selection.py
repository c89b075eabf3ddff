"""Selections, clicks, hovers, ready and session bundles as the viewer sends them.

The server side of ``/_cellucid/events``, ``/selection`` and ``/session_bundle`` is a separate
piece of work; here Playwright intercepts the requests on their way out, so what is checked is
exactly what the viewer puts on the wire (URL, headers, body).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.e2e.browser import (
    ARTIFACTS,
    decode_cell_set,
    fnv1a64,
    inside_polygon,
    open_viewer,
    parse_session,
    settle,
    to_screen,
    u32_cells,
)
from tests.e2e.conftest import World
from tests.e2e.datasets import N_CELLS, cluster_cells, clusters_adata

VIEWER = {"viewerId": "viewer-1", "viewerToken": "token-1"}


@dataclass
class Sent:
    path: str
    query: dict[str, list[str]]
    content_type: str
    body: bytes


@dataclass
class Outbox:
    sent: list[Sent] = field(default_factory=list)

    def events(self, kind: str) -> list[dict[str, Any]]:
        found = [json.loads(s.body) for s in self.sent if s.path == "/_cellucid/events"]
        return [e for e in found if e["type"] == kind]

    def of(self, path: str) -> list[Sent]:
        return [s for s in self.sent if s.path == path]


@pytest.fixture
def outbox(page: Page) -> Outbox:
    box = Outbox()

    def handle(route: Route, request: Request) -> None:
        url = urlsplit(request.url)
        box.sent.append(
            Sent(
                url.path,
                parse_qs(url.query),
                request.headers.get("content-type", ""),
                request.post_data_buffer or b"",
            )
        )
        route.fulfill(json={"status": "ok", "delivered": True})

    page.route("**/_cellucid/**", handle)
    return box


def _viewer_url(world: World) -> str:
    query = "&".join(f"{k}={v}" for k, v in VIEWER.items())
    return world.url(f"/e/{world.clusters.dataset_id}/?embedding=X_umap&{query}")


def _wait_for(page: Page, condition: Any) -> None:
    for _ in range(100):
        if condition():
            return
        page.wait_for_timeout(50)
    raise AssertionError("the viewer did not send the expected request")


def test_ready_hover_and_click_events(page: Page, world: World, outbox: Outbox) -> None:
    open_viewer(page, _viewer_url(world))
    _wait_for(page, lambda: outbox.events("ready"))
    assert outbox.events("ready") == [
        {"type": "ready", **VIEWER, "n_cells": N_CELLS, "dimensions": 2}
    ]
    # The isolated cell at the centre of the ring is the last one.
    xy = world.clusters.reader().embedding("X_umap")
    x, y = to_screen(page, xy[-1:])[0]
    page.mouse.move(x + 60, y + 60)
    page.mouse.move(x, y)
    _wait_for(page, lambda: any(e["cell"] == N_CELLS - 1 for e in outbox.events("hover")))
    hover = next(e for e in outbox.events("hover") if e["cell"] == N_CELLS - 1)
    assert set(hover) == {"type", "viewerId", "viewerToken", "cell", "position"}
    assert hover["position"] == pytest.approx({"x": xy[-1, 0], "y": xy[-1, 1], "z": 0})
    assert page.locator(".tooltip").inner_text() == f"cell {N_CELLS - 1} · cell_type: missing"

    page.mouse.click(x, y)
    _wait_for(page, lambda: outbox.of("/_cellucid/selection"))
    assert outbox.events("click") == [
        {"type": "click", **VIEWER, "cell": N_CELLS - 1, "button": 0, "shift": False, "ctrl": False}
    ]
    [selection] = outbox.of("/_cellucid/selection")
    assert selection.query == {k: [v] for k, v in {**VIEWER, "source": "click"}.items()}
    assert selection.content_type == "application/octet-stream"
    assert u32_cells(selection.body) == [N_CELLS - 1]


def _lasso(page: Page, centre: tuple[float, float], radius: float) -> list[tuple[int, int]]:
    """Shift-drag a circle with the mouse; returns the polygon the pointer traced."""
    points = [
        (
            round(centre[0] + radius * math.cos(2 * math.pi * i / 40)),
            round(centre[1] + radius * math.sin(2 * math.pi * i / 40)),
        )
        for i in range(41)
    ]
    page.keyboard.down("Shift")
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point)
    page.mouse.up()
    page.keyboard.up("Shift")
    return points


def test_lasso_sends_exactly_the_cells_inside(page: Page, world: World, outbox: Outbox) -> None:
    open_viewer(page, _viewer_url(world))
    adata = clusters_adata()
    screen = to_screen(page, world.clusters.reader().embedding("X_umap"))
    gamma = cluster_cells(adata, "gamma")
    centre = screen[gamma].mean(axis=0)
    spread = np.linalg.norm(screen[gamma] - centre, axis=1).max()
    polygon = _lasso(page, (centre[0], centre[1]), spread + 25)
    _wait_for(page, lambda: outbox.of("/_cellucid/selection"))
    [sent] = outbox.of("/_cellucid/selection")
    assert sent.query["source"] == ["lasso"]
    cells = u32_cells(sent.body)
    assert cells == sorted(set(cells)), "not strictly ascending"
    expected = inside_polygon(screen, polygon)
    assert cells == expected.tolist()
    assert cells == gamma.tolist()
    assert page.locator(".selection-count").inner_text() == "200 selected"
    page.screenshot(path=ARTIFACTS / "lasso-gamma.png")


def test_lasso_button_mode_and_hidden_cells(page: Page, world: World, outbox: Outbox) -> None:
    """In lasso mode a plain drag selects; hidden categories are not selectable."""
    open_viewer(page, _viewer_url(world))
    screen = to_screen(page, world.clusters.reader().embedding("X_umap"))
    page.locator(".legend-item", has_text="missing").click()
    page.wait_for_selector("body[data-hidden='1']")
    page.locator("#lasso").click()
    centre = screen[-1]
    points = [
        (round(centre[0] + 30 * math.cos(a)), round(centre[1] + 30 * math.sin(a)))
        for a in np.linspace(0, 2 * math.pi, 24)
    ]
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point)
    page.mouse.up()
    settle(page)
    assert page.evaluate("document.body.dataset.selected") == "0"
    assert not outbox.of("/_cellucid/selection")
    page.locator(".legend-show-all").click()
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point)
    page.mouse.up()
    _wait_for(page, lambda: outbox.of("/_cellucid/selection"))
    assert u32_cells(outbox.of("/_cellucid/selection")[0].body) == [N_CELLS - 1]


def test_save_session_posts_a_valid_bundle(page: Page, world: World, outbox: Outbox) -> None:
    open_viewer(page, _viewer_url(world))
    page.locator(".legend-item", has_text="beta").click()
    xy = world.clusters.reader().embedding("X_umap")
    x, y = to_screen(page, xy[-1:])[0]
    page.mouse.click(x, y)
    page.locator("#save-session").click()
    _wait_for(page, lambda: outbox.of("/_cellucid/session_bundle"))
    [sent] = outbox.of("/_cellucid/session_bundle")
    assert sent.query["viewerId"] == [VIEWER["viewerId"]]
    assert sent.query["viewerToken"] == [VIEWER["viewerToken"]]
    assert len(sent.query["requestId"][0]) == 32
    manifest, chunks = parse_session(sent.body)
    assert list(manifest) == ["createdAt", "datasetFingerprint", "source", "requires", "chunks"]
    fingerprint = manifest["datasetFingerprint"]
    assert fingerprint["datasetId"] == world.clusters.dataset_id
    assert fingerprint["cellCount"] == N_CELLS
    assert fingerprint["cellOrder"]["digest"] == fnv1a64(xy.tobytes())
    assert manifest["source"]["kind"] == "remote"
    assert manifest["requires"] == {"obs": ["cell_type"], "var": []}
    assert [c["id"] for c in manifest["chunks"]] == [
        "core/state",
        "highlights/meta",
        "highlights/cells/selection",
    ]
    state = json.loads(chunks["core/state"])
    assert state["embedding"] == "X_umap"
    assert state["colorBy"] == {"kind": "category", "key": "cell_type"}
    assert state["hiddenCategories"] == ["beta"]
    assert state["camera"] == {"mode": "2d", "center": [0, 0], "zoom": 1}
    assert decode_cell_set(chunks["highlights/cells/selection"]) == [N_CELLS - 1]
    assert json.loads(chunks["highlights/meta"])["groups"][0]["cellCount"] == 1


def test_save_session_without_a_viewer_downloads_the_file(page: Page, world: World) -> None:
    open_viewer(page, world.url(f"/e/{world.clusters.dataset_id}/?embedding=X_umap_3d"))
    with page.expect_download() as download:
        page.locator("#save-session").click()
    path = download.value.path()
    manifest, chunks = parse_session(path.read_bytes())
    assert download.value.suggested_filename == f"{world.clusters.dataset_id}.cellucid-session"
    assert list(chunks) == ["core/state"]
    assert json.loads(chunks["core/state"])["camera"]["mode"] == "3d"
    assert manifest["requires"] == {"obs": ["cell_type"], "var": []}


def test_a_refused_viewer_link_stops_sending(page: Page, world: World) -> None:
    """After a 404 (unknown or expired viewer) the page says so once and posts nothing more."""
    sent: list[str] = []

    def refuse(route: Route, request: Request) -> None:
        sent.append(urlsplit(request.url).path)
        route.fulfill(status=404, json={"detail": "unknown viewer", "status": 404})

    page.route("**/_cellucid/**", refuse)
    open_viewer(page, _viewer_url(world))
    expect(page.locator(".status .message")).to_contain_text("no longer valid")
    assert sent == ["/_cellucid/events"]
    xy = world.clusters.reader().embedding("X_umap")
    x, y = to_screen(page, xy[-1:])[0]
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    expect(page.locator(".selection-count")).to_have_text("1 selected")
    page.wait_for_timeout(300)
    assert sent == ["/_cellucid/events"]
