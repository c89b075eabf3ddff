"""JSON responses with validators: strong ETags, 304s, and cache lifetimes from the caches."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["NO_STORE", "cached_json", "error_json"]

NO_STORE = "no-store"


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def cached_json(request: Request, document: Any, max_age: int, status: int = 200) -> Response:
    """``document`` as JSON, public for ``max_age`` seconds, revalidatable by ETag."""
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    etag = _etag(body)
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    # If-None-Match compares weakly (RFC 9110 13.1.2): a CDN that compresses the answer
    # weakens its ETag, and the browser sends W/"…" back.
    tags = {
        t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")
    }
    if status == 200 and (etag in tags or "*" in tags):
        return Response(status_code=304, headers=headers)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def error_json(status: int, detail: str, **headers: str) -> Response:
    body = json.dumps({"detail": detail, "status": status}, ensure_ascii=False).encode()
    return Response(
        body,
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": NO_STORE, **headers},
    )
