"""``/_cellucid/*``: the Cellucid server's health, info and dataset list."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cellucid_cloud.api.context import ApiContext
from cellucid_cloud.api.responses import cached_json

__all__ = ["cellucid_router", "package_version"]


def package_version() -> str:
    try:
        return version("cellucid-cloud")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def cellucid_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/_cellucid", tags=["cellucid"])
    server_version = package_version()

    @router.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "type": "catalog", "version": server_version}

    @router.get("/info")
    def info(request: Request) -> dict[str, Any]:
        host, port = request.scope.get("server") or ("", None)
        return {"version": server_version, "host": host, "port": port, "mode": ctx.mode}

    @router.get("/datasets")
    def datasets(request: Request) -> Response:
        document = ctx.meta.datasets_json()
        listed = [
            {"id": d["id"], "path": d["path"], "name": d["name"]}
            for d in (document.value or {}).get("datasets", [])
        ]
        return cached_json(request, {"datasets": listed}, document.max_age)

    return router
