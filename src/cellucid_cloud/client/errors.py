"""What the client raises: every failed request is an :class:`ApiError`, with subclasses for
the cases callers handle differently (not found, or a failure worth retrying later)."""

from __future__ import annotations

__all__ = ["ApiError", "DatasetNotFound", "NotFoundError", "ServerError"]


class ApiError(Exception):
    """The API refused or failed a request: ``status`` is the HTTP status (None when there was
    no answer at all), ``detail`` the API's message."""

    def __init__(self, status: int | None, detail: str) -> None:
        super().__init__(detail if status is None else f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class NotFoundError(ApiError):
    """404: no such collection, dataset or explorer URL (or not visible to this caller)."""


class DatasetNotFound(NotFoundError):  # noqa: N818 - the name callers were promised
    """No dataset at this explorer URL (a withdrawn dataset is *found*, tombstoned)."""


class ServerError(ApiError):
    """A 5xx answer, or none (connection failed, timed out): never cached, worth a retry."""
