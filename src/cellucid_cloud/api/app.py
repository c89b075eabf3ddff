"""The API application: one FastAPI app for meta, collections, curation and ``/_cellucid/*``.

Errors are JSON ``{"detail", "status"}`` with a 4xx for anything the caller can fix — unknown
fields, bad ids, malformed JSON, oversized bodies (413) — and never a stored half-change.
A store that is down after retries answers 503 with ``Retry-After``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Scope

from cellucid_cloud import package_version
from cellucid_cloud.api.cellucid_routes import cellucid_router
from cellucid_cloud.api.context import ApiContext
from cellucid_cloud.api.curation_routes import curation_router
from cellucid_cloud.api.docs_routes import docs_router
from cellucid_cloud.api.events_http import BINARY_PATHS, EventsHttp
from cellucid_cloud.api.events_routes import events_router
from cellucid_cloud.api.meta_routes import meta_router
from cellucid_cloud.api.schemas import error_response
from cellucid_cloud.http.asgi import BodyLimit, error_json, response
from cellucid_cloud.http.errors import HANDLED_ERRORS, error_for
from cellucid_cloud.http.validation import validation_message

__all__ = ["build_api", "build_fastapi"]

HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def build_fastapi(ctx: ApiContext) -> FastAPI:
    """The FastAPI app without the body limit (a host may mount it inside its own app)."""
    app = FastAPI(
        title="cellucid-cloud",
        version=package_version(),
        summary="Explorer URL lookups, collections and curation for hosted Cellucid viewers.",
        # Documents our 422 body for every route, in place of FastAPI's validation-error list.
        responses={422: error_response("invalid request: the message says what and where")},
        docs_url=None,  # ours, below: Swagger UI without a CDN
        redoc_url=None,
    )
    app.include_router(docs_router(app.openapi_url or "/openapi.json", app.title))
    app.include_router(meta_router(ctx))
    app.include_router(curation_router(ctx))
    app.include_router(cellucid_router(ctx))
    if ctx.events is not None:
        events = EventsHttp(
            ctx.events, lambda: ctx.auth, ctx.session_uploads, ctx.upload_url_expiry
        )
        app.include_router(events_router(events))

    async def known_error(request: Request, exc: Exception) -> Response:
        return response(error_for(exc))

    for error_type in HANDLED_ERRORS:
        app.add_exception_handler(error_type, known_error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return error_json(422, validation_message(exc.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(app, request.scope))
        return error_json(exc.status_code, str(exc.detail), **headers)

    return app


def build_api(ctx: ApiContext) -> ASGIApp:
    """The API as served: the FastAPI app behind the request-body limit."""
    return BodyLimit(build_fastapi(ctx), ctx.max_body_bytes, exempt_paths=BINARY_PATHS)


def _allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route serves at the request's path. FastAPI makes one route per
    method, and Starlette's 405 names only the first matching route's methods in ``Allow``."""
    return [
        method
        for method in HTTP_METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in app.routes)
    ]
