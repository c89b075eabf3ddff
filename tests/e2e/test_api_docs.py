"""``/docs`` works offline: Swagger UI renders the API from assets our own server sends, and
the page asks no other origin for anything."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, Route

from tests.e2e.conftest import World


def test_docs_render_with_every_request_to_our_own_origin(world: World, page: Page) -> None:
    ours = urlsplit(world.up.base_url).netloc
    elsewhere: list[str] = []

    def only_ours(route: Route) -> None:
        if urlsplit(route.request.url).netloc == ours:
            route.continue_()
        else:  # what an offline laptop would see
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_ours)
    page.goto(world.url("/docs"))
    page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert "cellucid-cloud" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_function("() => document.querySelectorAll('.opblock').length > 10")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/dp/v1/datasets/meta" in [p.replace("\u200b", "") for p in paths]
    assert elsewhere == []
