"""Public routes: the meta lookup (both spellings), collections, the public catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, BinaryIO, Literal

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from cellucid_cloud.api.context import ApiContext
from cellucid_cloud.api.responses import NO_STORE, cached_json, error_json
from cellucid_cloud.api.schemas import (
    CollectionDocument,
    CollectionList,
    DatasetsJson,
    MetaAnswer,
    error_response,
)
from cellucid_cloud.catalog.urls import MAX_URL_LENGTH
from cellucid_cloud.storage.downloads import Redirect, attachment

__all__ = ["meta_router"]

ERRORS: dict[int | str, dict[str, Any]] = {
    404: error_response("no dataset or collection with this id"),
    422: error_response("not an explorer URL, or an invalid parameter"),
}

Visibility = Annotated[
    Literal["PUBLIC", "PRIVATE"] | None,
    Query(
        description="Sent by the cellxgene explorer for private collections; never widens "
        "what an id shows."
    ),
]

PathId = Annotated[
    str,
    Path(max_length=200, description="A canonical or version id (ids are at most 200 characters)."),
]
"""Bounded before any store sees it (DynamoDB refuses keys over 2 KiB with a server error)."""

Url = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="The explorer URL, e.g. https://host/e/<dataset id>/: its last path "
        "segment is the id, whatever the host or path prefix (/cellxgene/e/<id>.cxg/, /d/<id>/); "
        "a trailing slash and a .cxg suffix are tolerated; it may arrive unencoded.",
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

    @router.get("/dp/v1/collections", response_model=CollectionList)
    def collections(request: Request) -> Response:
        """The public collections, newest first (by first publication), with the number of
        datasets and cells and the CELLxGENE schema terms of their datasets."""
        document = ctx.meta.collections()
        return cached_json(request, document.value, document.max_age)

    @router.get(
        "/dp/v1/collections/{collection_id}",
        response_model=CollectionDocument,
        responses=ERRORS,
    )
    def collection(
        request: Request, collection_id: PathId, visibility: Visibility = None
    ) -> Response:
        """A collection's datasets and explorer URLs: the published version for a canonical
        id (nothing before the first publish), or the version a version id names (the private
        id of a revision or draft). ``visibility`` is accepted as the cellxgene explorer sends
        it; the id alone decides what is shown."""
        return cached_json(request, ctx.meta.collection(collection_id), 0)

    @router.get(
        "/datasets.json",
        tags=["catalog"],
        response_model=DatasetsJson,
        responses={404: error_response("nothing is published yet")},
    )
    def datasets_json(request: Request) -> Response:
        """Every published dataset, in the Cellucid ``datasets.json`` format (404 while there
        is none: the web app refuses an empty list)."""
        document = ctx.meta.datasets_json()
        if document.value is None:
            body = {"detail": "no dataset is published yet", "status": 404}
            return cached_json(request, body, document.max_age, 404)
        return cached_json(request, document.value, document.max_age)

    @router.api_route(
        "/dp/v1/datasets/{dataset_id}/download",
        methods=["GET", "HEAD"],
        response_class=Response,
        responses={
            200: {
                "description": "the file itself (up), with Content-Disposition and Content-Length",
                "content": {"application/octet-stream": {}},
            },
            302: {"description": "a presigned GET of the file, valid at most 15 minutes (AWS)"},
            404: error_response("no public dataset with this id"),
            410: error_response("the original file is no longer stored, or was replaced"),
        },
    )
    def download(request: Request, dataset_id: PathId) -> Response:
        """The original uploaded file of a public dataset's current version. Never cached: a
        redirect expires, and a withdrawn dataset must stop being handed out."""
        original = ctx.meta.original(dataset_id)
        found = ctx.downloads.locate(original.key, original.etag, original.file_name)
        if found is None:
            return error_json(410, f"the original file of dataset {dataset_id} is no longer kept")
        if isinstance(found, Redirect):
            return Response(status_code=302, headers={"Location": found.url, **NO_STORE_HEADERS})
        headers = {
            "Content-Length": str(found.size),
            "Content-Disposition": attachment(original.file_name),
            **NO_STORE_HEADERS,
        }
        if request.method == "HEAD":
            found.file.close()
            return Response(headers=headers, media_type="application/octet-stream")
        return StreamingResponse(
            _chunks(found.file), headers=headers, media_type="application/octet-stream"
        )

    return router


NO_STORE_HEADERS = {"Cache-Control": NO_STORE, "X-Content-Type-Options": "nosniff"}


async def _chunks(file: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await run_in_threadpool(file.read, 1 << 20):
            yield chunk
    finally:
        file.close()
