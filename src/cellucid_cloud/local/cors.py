"""CORS for the public read paths, so the Cellucid web app on another origin can load exports
and the catalog (``?exportsBaseUrl=<this server>&dataset=<id>``), errors included.

Only reads get it: ``/exports/*``, ``/datasets.json``, ``/dp/*`` and the Cellucid discovery
routes. Curation, uploads and event posts stay same-origin. No credentials are involved, so
``*`` is safe; on AWS CloudFront's response headers policy does the same.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["PUBLIC_READ_PREFIXES", "PublicReadCors"]

PUBLIC_READ_PREFIXES = (
    "/exports/",
    "/datasets.json",
    "/dp/",
    "/_cellucid/health",
    "/_cellucid/info",
    "/_cellucid/datasets",
)
HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, ETag, Accept-Ranges",
}
PREFLIGHT = {
    **HEADERS,
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range, If-None-Match, If-Range",
    "Access-Control-Max-Age": "86400",
}


class PublicReadCors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PUBLIC_READ_PREFIXES):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            headers = [(k.lower().encode(), v.encode()) for k, v in PREFLIGHT.items()]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_cors)
