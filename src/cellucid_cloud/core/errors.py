"""The errors the core's services raise for a request they refuse (the catalog's and the
events'); every host maps each to one HTTP status."""

from __future__ import annotations

__all__ = [
    "DomainError",
    "ForbiddenError",
    "InvalidRequestError",
    "NotFoundError",
    "StaleClaimError",
    "StateConflictError",
    "TooLargeError",
    "UnsupportedMediaTypeError",
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


class StaleClaimError(StateConflictError):
    """A worker finished a claim that is no longer the version's (claimed again since): its
    result is not recorded."""


class InvalidRequestError(DomainError):
    status = 422


class TooLargeError(DomainError):
    status = 413


class UnsupportedMediaTypeError(DomainError):
    status = 415
