"""Domain errors of the catalog; the API maps each to one HTTP status."""

from __future__ import annotations

__all__ = [
    "CatalogError",
    "ForbiddenError",
    "InvalidRequestError",
    "NotFoundError",
    "StateConflictError",
]


class CatalogError(Exception):
    """Base class; the message is shown to the caller as is."""

    status = 400


class NotFoundError(CatalogError):
    status = 404


class ForbiddenError(CatalogError):
    status = 403


class StateConflictError(CatalogError):
    """The request cannot apply to the current state (publish races, open revisions...)."""

    status = 409


class InvalidRequestError(CatalogError):
    status = 422
