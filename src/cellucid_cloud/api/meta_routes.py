"""Public routes: the meta lookup (both spellings), collections, the public catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from cellucid_cloud.api import public
from cellucid_cloud.api.context import ApiContext
from cellucid_cloud.api.public import META_PATHS, ExplorerUrl, FileAnswer, PublicId, VisibilityParam
from cellucid_cloud.api.schemas import error_response
from cellucid_cloud.catalog.documents import (
    CollectionDocument,
    CollectionList,
    DatasetsJson,
    MetaAnswer,
    PublishedEntry,
)
from cellucid_cloud.http.asgi import response

__all__ = ["meta_router"]

ERRORS: dict[int | str, dict[str, Any]] = {
    404: error_response("no dataset or collection with this id"),
    422: error_response("not an explorer URL, or an invalid parameter"),
}

Visibility = Annotated[
    VisibilityParam,
    Query(
        description="Sent by the cellxgene explorer for private collections; never widens "
        "what an id shows."
    ),
]

PathId = Annotated[
    PublicId,
    Path(description="A canonical or version id (ids are at most 200 characters)."),
]

Url = Annotated[
    ExplorerUrl,
    Query(
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
        return response(public.meta(ctx.meta, url, request.headers.get("if-none-match")))

    for path, name in zip(META_PATHS, ("datasets_meta", "meta_datasets"), strict=True):
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
        return response(public.collections(ctx.meta, request.headers.get("if-none-match")))

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
        if_none_match = request.headers.get("if-none-match")
        return response(public.collection(ctx.meta, collection_id, if_none_match))

    @router.get(
        "/datasets.json",
        tags=["catalog"],
        response_model=DatasetsJson[PublishedEntry],
        responses={404: error_response("nothing is published yet")},
    )
    def datasets_json(request: Request) -> Response:
        """Every published dataset, in the Cellucid ``datasets.json`` format (404 while there
        is none: the web app refuses an empty list)."""
        return response(public.datasets_json(ctx.meta, request.headers.get("if-none-match")))

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
        answer = public.download(ctx.meta, ctx.downloads, dataset_id)
        if not isinstance(answer, FileAnswer):
            return response(answer)
        media = "application/octet-stream"
        if request.method == "HEAD":
            answer.found.file.close()
            return Response(headers=answer.headers, media_type=media)
        return StreamingResponse(
            _chunks(answer.found.file), headers=answer.headers, media_type=media
        )

    return router


async def _chunks(file: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await run_in_threadpool(file.read, 1 << 20):
            yield chunk
    finally:
        file.close()
