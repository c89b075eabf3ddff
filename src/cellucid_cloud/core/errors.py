"""The errors the core's services raise for a request they refuse (the catalog's and the
events'), and the one its ports raise when their backing store is down; every host maps each
to one HTTP status."""

from __future__ import annotations

__all__ = [
    "DomainError",
    "ForbiddenError",
    "InvalidRequestError",
    "NotFoundError",
    "StaleClaimError",
    "StateConflictError",
    "StoreUnavailableError",
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


class StoreUnavailableError(Exception):
    """A backing store could not be reached, or kept refusing, after retries (botocore
    retried a throttled or failing call with backoff before the adapter saw it): the request
    cannot succeed now but may in a moment. Hosts answer 503 with ``Retry-After``, never a text
    500, and the prepare pipeline fails the message so SQS delivers it again."""
