"""Upload URLs: a URL that accepts one PUT of a dataset file for one key, briefly.

On AWS this is an S3 presigned PUT; locally a signed token that the local stack's upload
route checks. Either way the URL names exactly one object key, expires within minutes, and
caps the size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "MAX_UPLOAD_EXPIRY",
    "LinkIngest",
    "Reprocessing",
    "UploadUrl",
    "UploadUrlError",
    "UploadUrls",
]

MAX_UPLOAD_EXPIRY = 15 * 60


@dataclass(frozen=True, slots=True)
class UploadUrl:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    expires_in: int = MAX_UPLOAD_EXPIRY
    max_bytes: int = 0


class UploadUrlError(ValueError):
    """This request cannot have an upload URL; the message tells the curator why."""


class UploadUrls(Protocol):
    def upload_url(
        self, key: str, *, max_bytes: int, expires_in: int, size: int | None = None
    ) -> UploadUrl:
        """A URL for one PUT of at most ``max_bytes`` to ``key``. ``size`` is the length the
        curator declared, if any; an adapter that must sign the exact length (S3) refuses a
        request without it."""
        ...


class LinkIngest(Protocol):
    def ingest(self, link: str, key: str) -> None:
        """Fetch ``link`` into the uploads store at ``key`` in the background; the upload is
        then processed like any other. A link that cannot be fetched ends as a failed version
        with the reason."""
        ...


class Reprocessing(Protocol):
    def reprocess(self, key: str, upload_id: str, etag: str | None) -> None:
        """Process the upload ``upload_id`` (its file at ``key``, holding ``etag``) again in
        the background: the catalog made it a new pending version (new export options)."""
        ...
