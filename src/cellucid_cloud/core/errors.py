"""The errors the core's services raise for a request they refuse (the catalog's and the
events'); every host maps each to one HTTP status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "DomainError",
    "ForbiddenError",
    "InvalidRequestError",
    "NotFoundError",
    "StateConflictError",
    "TooLargeError",
    "UnsupportedMediaTypeError",
    "validation_message",
]


class DomainError(Exception):
    """Base class; the message is shown to the caller as is."""

    status = 400


class NotFoundError(DomainError):
    status = 404


class ForbiddenError(DomainError):
    status = 403


class StateConflictError(DomainError):
    """The request cannot apply to the current state (publish races, open revisions...)."""

    status = 409


class InvalidRequestError(DomainError):
    status = 422


class TooLargeError(DomainError):
    status = 413


class UnsupportedMediaTypeError(DomainError):
    status = 415


def validation_message(errors: Sequence[Mapping[str, Any]]) -> str:
    """The detail of a 422 from pydantic-style errors (FastAPI's, or a Lambda handler's own):
    the first error's location and message, and how many more there are. Every host says it
    the same way."""
    if not errors:
        return "invalid request"
    first = errors[0]
    if first.get("type") == "json_invalid":
        position = first["loc"][-1]
        return f"malformed JSON body: {first['ctx']['error']} (character {position})"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    message = f"{where}: {first.get('msg', 'invalid')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return message
