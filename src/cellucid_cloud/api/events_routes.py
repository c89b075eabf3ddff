"""The events routes (:mod:`cellucid_cloud.api.events_http`) as FastAPI routes, for ``up``.

FastAPI validates each route's query and JSON body against the declared models and
authenticates the curator (its HTTPBearer dependency, in the API docs); the route runs in a
worker thread, reading the body through the event loop as it asks for it; a long poll waits
on the event loop, so waiting viewers hold no thread.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from inspect import Parameter, Signature
from typing import Annotated, Any

import anyio
import anyio.from_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from cellucid_cloud.api.events_http import (
    EVENTS_ROUTES,
    EventsCall,
    EventsHttp,
    EventsRoute,
    FollowEvents,
)
from cellucid_cloud.api.schemas import error_response
from cellucid_cloud.events.wire import WireError
from cellucid_cloud.http.asgi import response
from cellucid_cloud.http.bodies import check_size

__all__ = ["events_router"]

bearer = HTTPBearer(auto_error=False)
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "malformed"},
    403: {"description": "wrong viewer token"},
    404: {"description": "unknown or expired viewer"},
    413: {"description": "too large"},
    415: {"description": "wrong content type"},
}
CURATOR_ERRORS: dict[int | str, dict[str, Any]] = {
    401: error_response("no, invalid or expired curator token")
}


def events_router(routes: EventsHttp) -> APIRouter:
    router = APIRouter(tags=["events"], responses=ERRORS)
    for route in EVENTS_ROUTES:
        docs = dict(route.docs)
        if not route.json_answer:
            docs["response_class"] = Response
        if route.curator:
            docs["responses"] = {**CURATOR_ERRORS, **docs.get("responses", {})}
        router.add_api_route(
            route.path,
            _endpoint(routes, route),
            methods=[route.method],
            status_code=route.status,
            name=route.name,
            **docs,
        )
    return router


def _endpoint(routes: EventsHttp, route: EventsRoute) -> Callable[..., Any]:
    """A FastAPI endpoint for ``route``: its signature declares what FastAPI validates."""
    handle = getattr(routes, route.name)
    path_names = re.findall(r"\{(\w+)\}", route.path)

    async def endpoint(request: Request, **values: Any) -> Response:
        call = EventsCall(
            header=request.headers.get,
            read_body=lambda cap: anyio.from_thread.run(_read_capped, request, cap),
            query=values.get("query"),
            body=values.get("body"),
            curator_id=values.get("curator_id"),
            path={name: values[name] for name in path_names},
        )
        answer = await anyio.to_thread.run_sync(handle, call)
        if isinstance(answer, FollowEvents):
            found = await routes.events.wait_for_events(answer.viewer, answer.after, answer.wait)
            answer = routes.page(*found)
        return response(answer)

    def curator(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        return routes.curator(credentials.credentials if credentials else None)

    parameters = [Parameter("request", Parameter.KEYWORD_ONLY, annotation=Request)]
    if route.query is not None:
        query = Annotated[route.query, Query()]  # type: ignore[name-defined]  # made at run time
        parameters.append(Parameter("query", Parameter.KEYWORD_ONLY, annotation=query))
    if route.body is not None:
        parameters.append(Parameter("body", Parameter.KEYWORD_ONLY, annotation=route.body))
    if route.curator:
        signed_in = Annotated[str, Depends(curator)]
        parameters.append(Parameter("curator_id", Parameter.KEYWORD_ONLY, annotation=signed_in))
    parameters += [Parameter(n, Parameter.KEYWORD_ONLY, annotation=str) for n in path_names]
    endpoint.__signature__ = Signature(parameters, return_annotation=Response)  # type: ignore[attr-defined]
    endpoint.__name__ = route.name
    endpoint.__doc__ = handle.__doc__
    return endpoint


async def _read_capped(request: Request, cap: int) -> bytes:
    """The body, refused (413) once it is larger than ``cap``: by its declared length before
    any of it arrives, else as it streams in."""
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
