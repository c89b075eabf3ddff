"""Which status and JSON body each error gets: ``{"detail", "status"}``, never cached.

The catalog's and the events' errors carry their status; a malformed event is a 400; a
missing or bad credential a 401 with ``WWW-Authenticate``; a store that is down after retries
a 503 with ``Retry-After``. Anything else is a bug (a 500).
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

from cellucid_cloud.core.errors import DomainError, StoreUnavailableError
from cellucid_cloud.events.wire import WireError
from cellucid_cloud.http.answers import JSON, NO_STORE, Answer

__all__ = [
    "HANDLED_ERRORS",
    "RETRY_AFTER_SECONDS",
    "AuthError",
    "error_answer",
    "error_for",
    "no_route",
]

log = logging.getLogger(__name__)


class AuthError(Exception):
    """Missing, malformed, expired or revoked credentials (HTTP 401): raised by a host's
    authentication, answered here."""


RETRY_AFTER_SECONDS = 5
"""When to ask again after a 503: a store down after botocore's retries may be back soon."""
HANDLED_ERRORS: tuple[type[Exception], ...] = (
    DomainError,
    WireError,
    AuthError,
    StoreUnavailableError,
)
"""The exceptions :func:`error_for` answers; anything else is a bug (a 500)."""


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


def no_route(allowed: list[str]) -> Answer:
    """A path no route serves (404), or one served for other methods (405 naming them)."""
    if allowed:
        return error_answer(405, HTTPStatus(405).phrase, Allow=", ".join(allowed))
    return error_answer(404, HTTPStatus(404).phrase)
