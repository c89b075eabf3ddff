"""The local stack's one ASGI app: API, exports, uploads, the viewer and the portal pages, on
one origin.

Paths as the CDN lays them out on AWS: ``/exports/*`` are the export files, ``/e/*`` and
``/viewer/*`` the viewer, ``/``, ``/collections*`` and ``/portal/*`` the public's pages, ``/dp/*``,
``/curation/*`` and ``/_cellucid/*`` the API; ``PUT /_cellucid/upload`` stands in for S3's
presigned PUT. Every request first passes the Host check (DNS-rebinding defence, 421) and the
body limit (413; the upload route has its own, per-token cap); public reads carry CORS.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from cellucid_cloud.api.app import build_fastapi
from cellucid_cloud.api.events_http import BINARY_PATHS
from cellucid_cloud.http.asgi import BodyLimit, HostCheck, PublicReadCors, error_json
from cellucid_cloud.local.exports import ExportFiles
from cellucid_cloud.local.stack import LocalStack
from cellucid_cloud.local.uploads import UploadRoute
from cellucid_cloud.portal import portal_routes
from cellucid_cloud.viewer import viewer_routes

__all__ = ["PUBLIC_READ_PREFIXES", "build_local_app"]

UPLOAD_PATH = "/_cellucid/upload"
PUBLIC_READ_PREFIXES = (
    "/exports/",
    "/datasets.json",
    "/dp/",
    "/_cellucid/health",
    "/_cellucid/info",
    "/_cellucid/datasets",
)
"""The reads the Cellucid web app on another origin makes, which carry CORS; curation,
uploads and event posts stay same-origin."""


def build_local_app(
    stack: LocalStack, allowed_hosts: list[str], allow_ip_hosts: bool = False
) -> ASGIApp:
    api = build_fastapi(stack.api_context)
    uploads = UploadRoute(
        stack.upload_urls,
        stack.uploads,
        stack.on_upload,
        stack.multipart,
        stack.upload_claims,
        stack.upload_refusal,
    )
    exports = ExportFiles(stack.data_dir / "exports")

    app = Starlette(
        routes=[
            Route(UPLOAD_PATH, uploads.__call__, methods=["PUT"]),
            Route("/exports/{rest:path}", exports.__call__, methods=["GET", "HEAD"]),
            *viewer_routes(),
            *portal_routes(),
            Mount("/", app=api),
        ],
        exception_handlers={HTTPException: _json_error},
    )
    limited = BodyLimit(
        app, stack.api_context.max_body_bytes, exempt_paths=(UPLOAD_PATH, *BINARY_PATHS)
    )
    return HostCheck(PublicReadCors(limited, PUBLIC_READ_PREFIXES), allowed_hosts, allow_ip_hosts)


async def _json_error(request: Request, exc: Exception) -> Response:
    """Routing errors outside the API as JSON like the API's own: the mount cannot take a
    path with a newline in it (``%0A``), so those 404s come from here."""
    if not isinstance(exc, HTTPException):
        raise exc
    return error_json(exc.status_code, str(exc.detail), **(exc.headers or {}))
