"""Upload URLs: a URL that accepts one PUT of a dataset file for one key, briefly.

On AWS this is an S3 presigned PUT; locally a signed token that the local stack's upload
route checks. Either way the URL names exactly one object key, expires within minutes, and
caps the size (the port is :class:`~cellucid_cloud.core.ports.UploadUrls`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "MAX_UPLOAD_EXPIRY",
    "UploadUrl",
    "UploadUrlError",
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
