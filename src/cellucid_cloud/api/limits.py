"""Bounded request bodies: refuse oversized ones with 413 before any handler sees them.

Checks ``Content-Length`` up front and counts streamed (chunked) bodies as they arrive, so a
client cannot bypass the limit by omitting the header. On overflow the 413 is sent at once and
the application is told the client went away, so it stops reading.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cellucid_cloud.api.answers import too_large
from cellucid_cloud.api.responses import error_json, response

__all__ = ["BodyLimit"]


class BodyLimit:
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
