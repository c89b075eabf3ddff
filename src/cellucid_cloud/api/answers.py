"""The HTTP rules every host applies, free of any web framework: JSON answers with validators
(strong ETags, 304s, cache lifetimes from the caches) and the answer each error gets.

The FastAPI app (:mod:`cellucid_cloud.api.responses` turns an :class:`Answer` into a Starlette
response) and the Lambda functions on Powertools' resolver (:mod:`cellucid_cloud.aws.resolver`)
both answer through these functions, so the meta function, the events function and the API
say the same thing the same way.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from cellucid_cloud.api.auth import AuthError
from cellucid_cloud.core.errors import DomainError
from cellucid_cloud.events.wire import WireError
from cellucid_cloud.unavailable import RETRY_AFTER_SECONDS, StoreUnavailableError

__all__ = [
    "HANDLED_ERRORS",
    "JSON",
    "MAX_BODY_BYTES",
    "NO_STORE",
    "Answer",
    "cached_json",
    "error_answer",
    "error_for",
    "json_answer",
    "no_route",
    "too_large",
]

log = logging.getLogger(__name__)

NO_STORE = "no-store"
JSON = "application/json"
MAX_BODY_BYTES = 1024 * 1024
"""Every request body but the binary routes' (which bound their own) and uploads'."""
HANDLED_ERRORS: tuple[type[Exception], ...] = (
    DomainError,
    WireError,
    AuthError,
    StoreUnavailableError,
)
"""The exceptions :func:`error_for` answers; anything else is a bug (a 500)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A response as every host sends it: status, body and headers (Content-Type included
    when there is a body)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _dumps(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def json_answer(document: Any, status: int = 200, **headers: str) -> Answer:
    return Answer(status, _dumps(document), {"Content-Type": JSON, **headers})


def cached_json(
    document: Any, max_age: int, if_none_match: str | None, status: int = 200
) -> Answer:
    """``document`` as JSON, public for ``max_age`` seconds, revalidatable by ETag."""
    body = _dumps(document)
    etag = _etag(body)
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    # If-None-Match compares weakly (RFC 9110 13.1.2): a CDN that compresses the answer
    # weakens its ETag, and the browser sends W/"…" back.
    tags = {t.strip().removeprefix("W/") for t in (if_none_match or "").split(",")}
    if status == 200 and (etag in tags or "*" in tags):
        return Answer(304, b"", headers)
    return Answer(status, body, {"Content-Type": JSON, **headers})


def error_answer(status: int, detail: str, **headers: str) -> Answer:
    body = json.dumps({"detail": detail, "status": status}, ensure_ascii=False).encode()
    return Answer(status, body, {"Content-Type": JSON, "Cache-Control": NO_STORE, **headers})


def error_for(exc: Exception) -> Answer:
    """The answer to one of :data:`HANDLED_ERRORS`."""
    if isinstance(exc, DomainError):
        return error_answer(exc.status, str(exc))
    if isinstance(exc, WireError):
        return error_answer(400, str(exc))
    if isinstance(exc, AuthError):
        return error_answer(401, str(exc), **{"WWW-Authenticate": "Bearer"})
    if isinstance(exc, StoreUnavailableError):
        log.warning("answering 503: %s", exc)
        return error_answer(503, str(exc), **{"Retry-After": str(RETRY_AFTER_SECONDS)})
    raise TypeError(f"no HTTP rule for {type(exc).__name__}") from exc


def too_large(max_bytes: int) -> Answer:
    """A body over the limit, refused before any route sees it."""
    return error_answer(413, f"request body larger than {max_bytes} bytes")


def no_route(allowed: list[str]) -> Answer:
    """A path no route serves (404), or one served for other methods (405 naming them)."""
    if allowed:
        return error_answer(405, HTTPStatus(405).phrase, Allow=", ".join(allowed))
    return error_answer(404, HTTPStatus(404).phrase)
