"""Request targets: the decoded path segments of a raw request path, or a refusal."""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["split_request_path"]

# Percent-encodings that could smuggle a separator, a dot segment, a NUL or a second decoding
# round (%25) past the segment check below; plus ASCII control characters.
_FORBIDDEN_ENCODED = re.compile(r"%(2e|2f|5c|00|25)", re.IGNORECASE)


def split_request_path(raw_path: str) -> list[str] | None:
    """Decoded path segments of a request target, or None when it must be refused.

    Works on the *raw* path as received, so encoded dots, slashes and backslashes, NUL and
    double encoding (``%252e``) are refused before decoding, and dot, empty (except a trailing
    one) or control-character segments after it. ``/`` gives ``[]``.
    """
    if not raw_path.startswith("/") or _FORBIDDEN_ENCODED.search(raw_path) or "\\" in raw_path:
        return None
    if raw_path == "/":
        return []
    try:
        decoded = unquote(raw_path[1:], errors="strict")
    except UnicodeDecodeError:
        return None
    segments = decoded.split("/")
    for i, seg in enumerate(segments):
        if seg == "" and i == len(segments) - 1:
            continue  # a trailing slash: a directory URL, which then simply is not a file
        if seg in ("", ".", "..") or "\\" in seg or any(ord(c) < 0x20 or c == "\x7f" for c in seg):
            return None
    return segments
