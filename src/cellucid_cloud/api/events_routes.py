"""``/_cellucid/*`` event routes: viewers post what a person does; token holders follow it.

Status codes as the Cellucid server: unknown or expired viewer 404, wrong token 403, too large
413, malformed 400/422 with the reason, wrong content type 415. Nothing malformed is stored.
The binary routes bound their own bodies (a selection by the dataset's cell count, a bundle by
5 MB), so they are exempt from the API's 1 MiB JSON limit.
"""

import asyncio
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from cellucid_cloud.api.context import ApiContext
from cellucid_cloud.api.schemas import error_response
from cellucid_cloud.core.errors import InvalidRequestError
from cellucid_cloud.events.service import (
    CURSOR_PATTERN,
    MAX_BUNDLE_BYTES,
    MAX_CURSOR_LENGTH,
    MAX_DIRECT_BUNDLE_BYTES,
    MAX_PARAM_LENGTH,
    MAX_WAIT,
    EventsService,
    ViewerRequest,
    delivered,
    events_page,
)
from cellucid_cloud.events.wire import MAX_EVENT_BYTES, WireError
from cellucid_cloud.http.answers import NO_STORE
from cellucid_cloud.http.asgi import response
from cellucid_cloud.http.bodies import check_size, require_binary, require_json

__all__ = ["BINARY_PATHS", "events_router"]

BINARY_PATHS = ("/_cellucid/selection", "/_cellucid/session_bundle")
bearer = HTTPBearer(auto_error=False)
Param = Annotated[str | None, Query(max_length=MAX_PARAM_LENGTH)]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "malformed"},
    403: {"description": "wrong viewer token"},
    404: {"description": "unknown or expired viewer"},
    413: {"description": "too large"},
    415: {"description": "wrong content type"},
}


class ViewerAnswer(BaseModel):
    viewerId: str  # noqa: N815 - Cellucid's spelling
    viewerToken: str  # noqa: N815
    viewer_url: str
    expires_at: str


async def _read_capped(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        check_size(int(declared), cap)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            check_size(size, cap)
            chunks.append(chunk)
    except ClientDisconnect:
        raise WireError("the request body was cut short") from None
    return b"".join(chunks)


def events_router(ctx: ApiContext, events: EventsService) -> APIRouter:
    router = APIRouter(prefix="/_cellucid", tags=["events"], responses=ERRORS)

    def curator(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        return ctx.auth.curator_for_bearer(credentials.credentials if credentials else None)

    @router.post(
        "/viewers",
        status_code=201,
        response_model=ViewerAnswer,
        responses={401: error_response("no, invalid or expired curator token")},
    )
    def register(curator_id: Annotated[str, Depends(curator)], body: ViewerRequest) -> ViewerAnswer:
        """Register a viewer of a dataset; its token lets a notebook follow the viewer."""
        registration = events.register(curator_id, body.dataset_id, body.ttl_seconds)
        return ViewerAnswer.model_validate(registration.answer())

    @router.post("/events", openapi_extra=_body("application/json"))
    async def post_event(request: Request) -> Response:
        """One JSON event (ready, hover, click, data_mapping, command_error, debug_snapshot,
        pong) carrying viewerId and viewerToken."""
        require_json(request.headers.get("content-type"))
        body = await _read_capped(request, MAX_EVENT_BYTES)
        cursor = await _threaded(events.post_event, body)
        return _ok(cursor)

    @router.post("/selection", openapi_extra=_body("application/octet-stream"))
    async def post_selection(
        request: Request,
        viewerId: Param = None,  # noqa: N803 - Cellucid's query names
        viewerToken: Param = None,  # noqa: N803
        source: Param = None,
    ) -> Response:
        """The cells a person selected: u32 little-endian, strictly ascending, < n_cells."""
        require_binary(request.headers.get("content-type"))
        viewer = await _threaded(events.viewer, viewerId, viewerToken)
        body = await _read_capped(request, 4 * viewer.n_cells)
        cursor = await _threaded(events.post_selection, viewerId, viewerToken, source, body)
        return _ok(cursor)

    @router.post("/session_bundle", openapi_extra=_body("application/octet-stream"))
    async def post_bundle(
        request: Request,
        viewerId: Param = None,  # noqa: N803
        viewerToken: Param = None,  # noqa: N803
        requestId: Param = None,  # noqa: N803
    ) -> Response:
        """A ``.cellucid-session`` file (v1 or v2) of at most 5 MB."""
        require_binary(request.headers.get("content-type"))
        await _threaded(events.viewer, viewerId, viewerToken)
        body = await _read_capped(request, MAX_DIRECT_BUNDLE_BYTES)
        await _threaded(events.post_bundle, viewerId, viewerToken, requestId, body)
        return _ok(None)

    @router.post("/session_bundle/upload-url")
    def bundle_upload_url(
        viewerId: Param = None,  # noqa: N803
        viewerToken: Param = None,  # noqa: N803
        requestId: Param = None,  # noqa: N803
        size: Annotated[int | None, Query(ge=1, le=MAX_BUNDLE_BYTES)] = None,
    ) -> dict[str, Any]:
        """A URL for one PUT of a bundle over 5 MB (``size`` in bytes; required on AWS, where
        the URL signs the exact length). The bundle is validated once it has arrived: then
        it is listed, or deleted with a ``session_bundle`` event saying why."""
        if ctx.session_uploads is None:
            raise InvalidRequestError("this deployment takes session bundles directly only")
        return events.bundle_upload_url(
            ctx.session_uploads, viewerId, viewerToken, requestId, size, ctx.upload_url_expiry
        )

    @router.get("/events", response_model=dict[str, Any])
    async def get_events(
        viewerId: Param = None,  # noqa: N803
        viewerToken: Param = None,  # noqa: N803
        after: Annotated[str, Query(max_length=MAX_CURSOR_LENGTH, pattern=CURSOR_PATTERN)] = "0",
        wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0.0,
    ) -> Response:
        """Events after the cursor in arrival order, long-polling up to ``wait`` seconds."""
        viewer = await _threaded(events.viewer, viewerId, viewerToken)
        page = events_page(*await events.wait_for_events(viewer, int(after), wait))
        return Response(page, media_type="application/json")

    @router.get("/session_bundles")
    def list_bundles(
        viewerId: Param = None,  # noqa: N803
        viewerToken: Param = None,  # noqa: N803
    ) -> dict[str, Any]:
        return {"bundles": events.bundles(events.viewer(viewerId, viewerToken))}

    @router.get(
        "/session_bundles/{request_id}",
        response_class=Response,
        responses={
            200: {"content": {"application/octet-stream": {}}, "description": "the bundle (up)"},
            302: {"description": "a presigned GET of the bundle, valid at most 15 minutes (AWS)"},
        },
    )
    def get_bundle(
        request_id: str,
        viewerId: Param = None,  # noqa: N803
        viewerToken: Param = None,  # noqa: N803
    ) -> Response:
        viewer = events.viewer(viewerId, viewerToken)
        return response(events.bundle_download(viewer, request_id))

    return router


def _ok(cursor: int | None) -> Response:
    return Response(
        json.dumps(delivered(cursor)),
        media_type="application/json",
        headers={"Cache-Control": NO_STORE},
    )


async def _threaded[T](function: Callable[..., T], *args: Any) -> T:
    """Catalog and store calls block; keep them off the event loop."""
    return await asyncio.to_thread(function, *args)


def _body(media_type: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {media_type: {"schema": {}}}}}
