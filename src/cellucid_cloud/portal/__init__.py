"""The public's pages: the collections index and each collection's page (docs/portal.md).

Static HTML, CSS and plain ES modules (no build step), like the viewer: the pages read the
public JSON API of their own origin. ``/`` and ``/collections`` are the index, every
``/collections/<id>`` the one collection page (it reads the id from its own URL). The pages and
their modules are revalidated on every load, with the viewer's headers; they import the site's
shared helpers from the viewer's assets (``/viewer/dom.js``), which every host serves beside them.
On AWS CloudFront serves the same files from the exports bucket's ``portal/`` prefix
(``infra/cloudfront/pages-rewrite.js`` maps the paths).
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route

from cellucid_cloud.viewer import RevalidatedStatic, page

__all__ = ["ASSETS_PATH", "STATIC_DIR", "portal_routes"]

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/portal"
INDEX_PAGE = STATIC_DIR / "index.html"
COLLECTION_PAGE = STATIC_DIR / "collection.html"


def portal_routes() -> list[BaseRoute]:
    """The index at ``/`` and ``/collections``, a collection at ``/collections/{id}``, and
    the pages' assets under ``/portal``."""
    index = page(INDEX_PAGE)
    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/collections", index, methods=["GET", "HEAD"]),
        Route("/collections/", index, methods=["GET", "HEAD"]),
        Route("/collections/{collection_id}", page(COLLECTION_PAGE), methods=["GET", "HEAD"]),
        Mount(ASSETS_PATH, app=RevalidatedStatic(directory=STATIC_DIR), name="portal"),
    ]
