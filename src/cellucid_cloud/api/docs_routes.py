"""``/docs``: Swagger UI over the API's OpenAPI document, working offline.

FastAPI's default page loads Swagger UI from a CDN, so it is blank on a laptop without internet
and tells a third party about every visit. The page here is FastAPI's own HTML pointed at the
Swagger UI build that the ``fastapi-offline`` package ships (a 5.x release, which reads the
OpenAPI 3.1 document FastAPI writes), served by us under ``/docs/assets/``.
"""

from __future__ import annotations

import functools
from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse, Response

from cellucid_cloud.http.asgi import error_json

__all__ = ["DOCS_ASSETS_PATH", "docs_router"]

DOCS_ASSETS_PATH = "/docs/assets"
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}


@functools.cache
def _asset(name: str) -> bytes:
    return (files("fastapi_offline") / "static" / name).read_bytes()


def docs_router(openapi_url: str, title: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{title} - API",
            swagger_js_url=f"{root}{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_PATH}/favicon.png",
        )

    @router.get(DOCS_ASSETS_PATH + "/{name}")
    def asset(name: str) -> Response:
        media_type = ASSET_TYPES.get(name)
        if media_type is None:
            return error_json(404, "not found")
        return Response(
            _asset(name),
            media_type=media_type,
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    return router
