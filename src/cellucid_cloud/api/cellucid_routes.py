"""``/_cellucid/*``: the Cellucid server's health, info and dataset list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellucid_cloud import package_version
from cellucid_cloud.api import public
from cellucid_cloud.api.context import ApiContext
from cellucid_cloud.http.asgi import response

__all__ = ["cellucid_router"]


def cellucid_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/_cellucid", tags=["cellucid"])
    server_version = package_version()

    @router.get("/health")
    def health() -> dict[str, Any]:
        return public.health(server_version)

    @router.get("/info")
    def info(request: Request) -> dict[str, Any]:
        host, port = request.scope.get("server") or ("", None)
        return public.info(server_version, host, port, ctx.mode)

    @router.get("/datasets")
    def datasets(request: Request) -> Response:
        return response(public.cellucid_datasets(ctx.meta, request.headers.get("if-none-match")))

    return router
