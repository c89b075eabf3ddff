"""The hosted viewer: static HTML, CSS and plain ES modules (no build step), and its routes.

``/e/<id>/`` is one static page for every explorer URL: the page asks the meta API which dataset
its own URL shows, then loads that export straight from the exports origin. ``/e/<id>`` redirects
to the slash form (query string kept). The page and its modules are revalidated on every load
(``no-cache`` + validators), because their names do not change between releases. The portal's
pages (``cellucid_cloud.portal``) are served the same way, with :func:`page` and
:class:`RevalidatedStatic`.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = [
    "ASSETS_PATH",
    "PAGE_HEADERS",
    "STATIC_DIR",
    "Endpoint",
    "RevalidatedStatic",
    "page",
    "viewer_routes",
]

Endpoint = Callable[[Request], Awaitable[Response]]

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/viewer"
PAGE_FILE = STATIC_DIR / "index.html"

#: The page talks to its own origin (meta, events) and to the exports origin, which may be a CDN.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self' http: https:; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class RevalidatedStatic(StaticFiles):
    """Static assets with ETag/Last-Modified (from StaticFiles) and ``no-cache``."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def page(path: Path) -> Endpoint:
    """An endpoint answering with one static HTML page and the pages' headers."""

    async def endpoint(request: Request) -> Response:
        return FileResponse(path, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    return endpoint


async def _to_slash(request: Request) -> Response:
    """``/e/<id>`` → ``<id>/``, relative, so the host and any proxy prefix stay as they are."""
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    segment = raw.decode("latin-1").rsplit("/", 1)[-1]
    query = request.scope.get("query_string", b"").decode("latin-1")
    return RedirectResponse(f"{segment}/" + (f"?{query}" if query else ""), status_code=308)


def viewer_routes() -> list[BaseRoute]:
    """The viewer page at ``/e/{id}/`` (and the redirect from ``/e/{id}``) and its assets."""
    return [
        Route("/e/{dataset}/", page(PAGE_FILE), methods=["GET", "HEAD"]),
        Route("/e/{dataset}", _to_slash, methods=["GET", "HEAD"]),
        Mount(ASSETS_PATH, app=RevalidatedStatic(directory=STATIC_DIR), name="viewer"),
    ]
