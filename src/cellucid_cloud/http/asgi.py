"""The HTTP rules on ASGI: Starlette responses from :class:`~cellucid_cloud.http.answers.Answer`
and the middlewares ``up``, ``serve`` and the API function put in front of their routes (the
``Host`` check, the body limit, CORS on public reads)."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cellucid_cloud.http import conditional
from cellucid_cloud.http.answers import Answer
from cellucid_cloud.http.bodies import too_large
from cellucid_cloud.http.cors import PREFLIGHT_HEADERS, PUBLIC_READ_HEADERS
from cellucid_cloud.http.errors import error_answer
from cellucid_cloud.http.hosts import host_allowed, host_name, refusal
from cellucid_cloud.http.paths import split_request_path

__all__ = [
    "BodyLimit",
    "HostCheck",
    "PublicReadCors",
    "cached_json",
    "error_json",
    "request_segments",
    "response",
]


def response(answer: Answer) -> Response:
    headers = dict(answer.headers)
    media_type = headers.pop("Content-Type", None)
    return Response(answer.body, answer.status, headers, media_type)


def cached_json(request: Request, document: Any, max_age: int, status: int = 200) -> Response:
    """``document`` as JSON, public for ``max_age`` seconds, revalidatable by ETag."""
    if_none_match = request.headers.get("if-none-match")
    return response(conditional.cached_json(document, max_age, if_none_match, status))


def error_json(status: int, detail: str, **headers: str) -> Response:
    return response(error_answer(status, detail, **headers))


def request_segments(scope: Scope) -> list[str] | None:
    """The decoded segments of the request's *raw* path (before any framework decodes or
    normalises it), or None when it must be refused."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    try:
        return split_request_path(raw.decode("ascii"))
    except UnicodeDecodeError:
        return None


class HostCheck:
    """421 for a ``Host`` not served here (:mod:`cellucid_cloud.http.hosts`), on every path."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str], allow_ip_hosts: bool) -> None:
        self.app = app
        self.allowed = frozenset(host_name(h) for h in allowed_hosts)
        self.allow_ip_hosts = allow_ip_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if not host_allowed(host, self.allowed, ip_literals=self.allow_ip_hosts):
                await error_json(421, refusal(host))(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Bounded request bodies: oversized ones get a 413 before any handler sees them.

    Checks ``Content-Length`` up front and counts streamed (chunked) bodies as they arrive, so
    a client cannot bypass the limit by omitting the header. On overflow the 413 is sent at
    once and the application is told the client went away, so it stops reading.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, exempt_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_paths = exempt_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        refusal = response(too_large(self.max_bytes))
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await error_json(400, "invalid Content-Length")(scope, receive, send)
                    return
                if int(value) > self.max_bytes:
                    await refusal(scope, receive, send)
                    return
        seen = 0
        started = False
        refused = False

        async def counting_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                seen += len(message.get("body", b""))
                if seen > self.max_bytes and not started:
                    refused = True
                    await refusal(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except Exception:
            if not refused:
                raise


class PublicReadCors:
    """CORS (:mod:`cellucid_cloud.http.cors`) on the paths under ``prefixes``: their
    preflights answered here, their answers carrying the headers."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await Response(status_code=204, headers=PREFLIGHT_HEADERS)(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in PUBLIC_READ_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_cors)
