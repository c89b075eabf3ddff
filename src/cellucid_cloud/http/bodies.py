"""Request bodies: how large they may be and which content types the binary and JSON posts
take. Every host refuses the same body with the same answer."""

from __future__ import annotations

from cellucid_cloud.core.errors import TooLargeError, UnsupportedMediaTypeError
from cellucid_cloud.http.answers import JSON, OCTET_STREAM, Answer
from cellucid_cloud.http.errors import error_answer

__all__ = ["MAX_BODY_BYTES", "check_size", "require_binary", "require_json", "too_large"]

MAX_BODY_BYTES = 1024 * 1024
"""Every request body but the binary routes' (which bound their own) and uploads'."""


def too_large(max_bytes: int) -> Answer:
    """A body over the limit, refused before any route sees it."""
    return error_answer(413, f"request body larger than {max_bytes} bytes")


def check_size(size: int, cap: int) -> None:
    """A route's own cap on its body (413 over it)."""
    if size > cap:
        raise TooLargeError(f"body larger than {cap} bytes")


def _media_type(content_type: str) -> str:
    return content_type.split(";", maxsplit=1)[0].strip()


def require_json(content_type: str | None) -> None:
    """A JSON post, declared as such (parameters such as charset are ignored)."""
    if _media_type(content_type or "") != JSON:
        raise UnsupportedMediaTypeError("send the event as application/json")


def require_binary(content_type: str | None) -> None:
    """An octet-stream post; a body without a type is taken as one."""
    if _media_type(content_type or OCTET_STREAM) != OCTET_STREAM:
        raise UnsupportedMediaTypeError("send the body as application/octet-stream")
