"""``/_cellucid/*`` event routes: viewers post what a person does; token holders follow it.

Status codes as the Cellucid server: unknown or expired viewer 404, wrong token 403, too large
413, malformed 400/422 with the reason, wrong content type 415. Nothing malformed is stored.
The binary routes bound their own bodies (a selection by the dataset's cell count, a bundle by
5 MB), so they are exempt from the API's 1 MiB JSON limit.
"""

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from cellucid_cloud.api.auth import AuthError
from cellucid_cloud.api.context import ApiContext
from cellucid_cloud.api.responses import NO_STORE, error_json
from cellucid_cloud.api.schemas import error_response
from cellucid_cloud.catalog.errors import InvalidRequestError
from cellucid_cloud.events.service import (
    DEFAULT_VIEWER_TTL,
    MAX_BUNDLE_BYTES,
    MAX_DIRECT_BUNDLE_BYTES,
    MAX_WAIT,
    EventsService,
    TooLargeError,
)
from cellucid_cloud.events.wire import MAX_EVENT_BYTES, WireError
from cellucid_cloud.storage.upload_urls import UploadUrlError

__all__ = ["BINARY_PATHS", "events_router"]

BINARY_PATHS = ("/_cellucid/selection", "/_cellucid/session_bundle")
bearer = HTTPBearer(auto_error=False)
Param = Annotated[str | None, Query(max_length=200)]
DELIVERED = {"status": "ok", "delivered": True}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "malformed"},
    403: {"description": "wrong viewer token"},
    404: {"description": "unknown or expired viewer"},
    413: {"description": "too large"},
    415: {"description": "wrong content type"},
}


class ViewerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset_id: Annotated[str, Field(min_length=1, max_length=2048)]
    """A canonical dataset id, a dataset version id, or an explorer URL."""
    ttl_seconds: int = DEFAULT_VIEWER_TTL


class ViewerAnswer(BaseModel):
    viewerId: str  # noqa: N815 - Cellucid's spelling
    viewerToken: str  # noqa: N815
    viewer_url: str
    expires_at: str


async def _read_capped(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise TooLargeError(f"body larger than {cap} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise TooLargeError(f"body larger than {cap} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise WireError("the request body was cut short") from None
    return b"".join(chunks)


def _binary_content_type(request: Request) -> Response | None:
    kind = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
    if kind != "application/octet-stream":
        return error_json(415, "send the body as application/octet-stream")
    return None


def events_router(ctx: ApiContext, events: EventsService) -> APIRouter:
    router = APIRouter(prefix="/_cellucid", tags=["events"], responses=ERRORS)

    def curator(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        if credentials is None:
            raise AuthError("send Authorization: Bearer <token> (POST /curation/v1/auth/token)")
        return ctx.auth.curator_for_token(credentials.credentials)

    @router.post(
        "/viewers",
        status_code=201,
        response_model=ViewerAnswer,
        responses={401: error_response("no, invalid or expired curator token")},
    )
    def register(curator_id: Annotated[str, Depends(curator)], body: ViewerRequest) -> ViewerAnswer:
        """Register a viewer of a dataset; its token lets a notebook follow the viewer."""
        registration = events.register(curator_id, body.dataset_id, body.ttl_seconds)
        viewer = registration.viewer
        return ViewerAnswer(
            viewerId=viewer.viewer_id,
            viewerToken=registration.token,
            viewer_url=registration.viewer_url,
            expires_at=datetime.fromtimestamp(viewer.expires_at, UTC).isoformat(),
        )

    @router.post("/events", openapi_extra=_body("application/json"))
    async def post_event(request: Request) -> Response:
        """One JSON event (ready, hover, click, data_mapping, command_error, debug_snapshot,
        pong) carrying viewerId and viewerToken."""
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind != "application/json":
            return error_json(415, "send the event as application/json")
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
        refused = _binary_content_type(request)
        if refused is not None:
            return refused
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
        refused = _binary_content_type(request)
        if refused is not None:
            return refused
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
        key = events.bundle_upload_key(viewerId, viewerToken, requestId)
        try:
            grant = ctx.session_uploads.upload_url(
                key, max_bytes=MAX_BUNDLE_BYTES, expires_in=ctx.upload_url_expiry, size=size
            )
        except UploadUrlError as exc:
            raise InvalidRequestError(str(exc)) from None
        return {
            "url": grant.url,
            "headers": grant.headers,
            "expires_in": grant.expires_in,
            "max_bytes": grant.max_bytes,
        }

    @router.get("/events")
    async def get_events(
        viewerId: Param = None,  # noqa: N803
        viewerToken: Param = None,  # noqa: N803
        after: Annotated[str, Query(max_length=20, pattern=r"^[0-9]+$")] = "0",
        wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0.0,
    ) -> dict[str, Any]:
        """Events after the cursor in arrival order, long-polling up to ``wait`` seconds."""
        viewer = await _threaded(events.viewer, viewerId, viewerToken)
        stored, cursor = await events.wait_for_events(viewer, int(after), wait)
        return {"events": [e.event for e in stored], "cursor": str(cursor)}

    @router.get("/session_bundles")
    def list_bundles(
        viewerId: Param = None,  # noqa: N803
        viewerToken: Param = None,  # noqa: N803
    ) -> dict[str, Any]:
        return {"bundles": events.bundles(events.viewer(viewerId, viewerToken))}

    @router.get(
        "/session_bundles/{request_id}",
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    def get_bundle(
        request_id: str,
        viewerId: Param = None,  # noqa: N803
        viewerToken: Param = None,  # noqa: N803
    ) -> Response:
        data = events.bundle_bytes(events.viewer(viewerId, viewerToken), request_id)
        return Response(
            data,
            media_type="application/octet-stream",
            headers={
                "Content-Disposition": f'attachment; filename="{request_id}.cellucid-session"',
                "Cache-Control": "no-store",
            },
        )

    return router


def _ok(cursor: int | None) -> Response:
    body = {**DELIVERED, **({"cursor": str(cursor)} if cursor is not None else {})}
    return Response(
        json.dumps(body), media_type="application/json", headers={"Cache-Control": NO_STORE}
    )


async def _threaded[T](function: Callable[..., T], *args: Any) -> T:
    """Catalog and store calls block; keep them off the event loop."""
    return await asyncio.to_thread(function, *args)


def _body(media_type: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {media_type: {"schema": {}}}}}
