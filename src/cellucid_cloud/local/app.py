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
from starlette.types import ASGIApp, Receive, Scope, Send

from cellucid_cloud.api.app import build_fastapi
from cellucid_cloud.api.events_routes import BINARY_PATHS
from cellucid_cloud.api.limits import BodyLimit
from cellucid_cloud.api.responses import error_json
from cellucid_cloud.local.cors import PublicReadCors
from cellucid_cloud.local.exports import ExportFiles
from cellucid_cloud.local.stack import LocalStack
from cellucid_cloud.local.uploads import UploadRoute
from cellucid_cloud.portal import portal_routes
from cellucid_cloud.serve.http import host_allowed, host_name
from cellucid_cloud.viewer import viewer_routes

__all__ = ["HostCheck", "build_local_app"]

UPLOAD_PATH = "/_cellucid/upload"


class HostCheck:
    def __init__(self, app: ASGIApp, allowed_hosts: list[str], allow_ip_hosts: bool) -> None:
        self.app = app
        self.allowed = frozenset(host_name(h) for h in allowed_hosts)
        self.allow_ip_hosts = allow_ip_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if not host_allowed(host, self.allowed, ip_literals=self.allow_ip_hosts):
                message = f"Host {host!r} is not served here (DNS-rebinding protection)"
                await error_json(421, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)


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
    return HostCheck(PublicReadCors(limited), allowed_hosts, allow_ip_hosts)


async def _json_error(request: Request, exc: Exception) -> Response:
    """Routing errors outside the API as JSON like the API's own: the mount cannot take a
    path with a newline in it (``%0A``), so those 404s come from here."""
    if not isinstance(exc, HTTPException):
        raise exc
    return error_json(exc.status_code, str(exc.detail), **(exc.headers or {}))
