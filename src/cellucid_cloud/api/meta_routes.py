"""Public routes: the meta lookup (both spellings), collections, the public catalog."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from cellucid_cloud.api.context import ApiContext
from cellucid_cloud.api.responses import cached_json
from cellucid_cloud.api.schemas import CollectionDocument, MetaAnswer, error_response
from cellucid_cloud.catalog.urls import MAX_URL_LENGTH

__all__ = ["meta_router"]

ERRORS: dict[int | str, dict[str, Any]] = {
    404: error_response("no dataset or collection with this id"),
    422: error_response("not an explorer URL, or an invalid parameter"),
}

Url = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="The explorer URL, e.g. https://host/e/<dataset id>/ (scheme and host are "
        "ignored; a trailing slash and a .cxg suffix are tolerated).",
    ),
]


def meta_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["meta"])

    def meta(request: Request, url: Url) -> Response:
        """Which dataset an explorer URL shows, where its export lives, or that it was
        withdrawn (200 with ``tombstoned: true`` and the contact)."""
        answer = ctx.meta.lookup(url)
        if answer.value is None:
            return cached_json(
                request, {"detail": "no dataset at this URL", "status": 404}, answer.max_age, 404
            )
        return cached_json(request, answer.value, answer.max_age)

    for path, name in (
        ("/dp/v1/datasets/meta", "datasets_meta"),
        ("/dp/v1/meta/datasets", "meta_datasets"),
    ):
        router.add_api_route(
            path,
            meta,
            methods=["GET"],
            name=name,
            response_model=MetaAnswer,
            responses=ERRORS,
        )

    @router.get(
        "/dp/v1/collections/{collection_id}",
        response_model=CollectionDocument,
        responses=ERRORS,
    )
    def collection(request: Request, collection_id: str) -> Response:
        """A collection's datasets and explorer URLs: the published version for a public id,
        or the version a private id names."""
        return cached_json(request, ctx.meta.collection(collection_id), 0)

    @router.get("/datasets.json", tags=["catalog"])
    def datasets_json(request: Request) -> Response:
        """Every published dataset, in the Cellucid ``datasets.json`` format."""
        document = ctx.meta.datasets_json()
        return cached_json(request, document.value, document.max_age)

    return router
