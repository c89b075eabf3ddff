"""Pure HTTP helpers: byte ranges, entity-tag matching, request-path and Host validation.

Kept free of any framework so every rule can be unit-tested on plain strings.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Literal
from urllib.parse import unquote

__all__ = [
    "UNSATISFIABLE",
    "accepts_gzip",
    "gzip_etag",
    "host_allowed",
    "host_name",
    "if_none_match",
    "parse_range",
    "split_request_path",
]

UNSATISFIABLE: Literal["unsatisfiable"] = "unsatisfiable"
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
_MAX_DIGITS = 18
"""Positions with more significant digits lie beyond any file (and ``int()`` refuses strings
of over 4,300 digits)."""
# Percent-encodings that could smuggle a separator, a dot segment, a NUL or a second decoding
# round (%25) past the segment check below; plus ASCII control characters.
_FORBIDDEN_ENCODED = re.compile(r"%(2e|2f|5c|00|25)", re.IGNORECASE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """The single byte range ``[start, stop)`` asked for, ``UNSATISFIABLE``, or None (whole file).

    Supports ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n``. A malformed header or a multi-range
    request yields None: RFC 9110 lets a server ignore Range, and a whole 200 response is
    simpler and safer than multipart/byteranges, which the Cellucid viewer never asks for.
    """
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = (_position(group) for group in match.groups())
    if first is None:
        if last is None:
            return None
        if last == 0 or size == 0:
            return UNSATISFIABLE
        return max(0, size - last), size
    if last is not None and last < first:
        return None
    if first >= size:
        return UNSATISFIABLE
    stop = size if last is None else min(last + 1, size)
    return first, stop


def _position(digits: str) -> int | None:
    """A range position (None if absent). A number too long to be a real position becomes
    ``10**_MAX_DIGITS``, past the end of any file (``bytes=1-<5,000 nines>`` is the rest of
    the file, ``bytes=<5,000 nines>-`` is 416; two such positions compare equal)."""
    if not digits:
        return None
    significant = digits.lstrip("0") or "0"
    return 10**_MAX_DIGITS if len(significant) > _MAX_DIGITS else int(significant)


def accepts_gzip(header: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header admits gzip (RFC 9110 §12.5.3).

    ``gzip`` (or ``x-gzip``) or ``*`` with a non-zero weight admits it; an explicit zero weight for
    gzip refuses it even when ``*`` is admitted. No header, an empty one, or a weight that is not
    a number gets the bytes as they are: identity is always acceptable, a guess is not.
    """
    if not header:
        return False
    weights: dict[str, float] = {}
    for item in header.split(","):
        coding, _, params = item.partition(";")
        name = coding.strip().lower()
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        if name:
            weights["gzip" if name == "x-gzip" else name] = weight
    return weights.get("gzip", weights.get("*", 0.0)) > 0


def gzip_etag(etag: str) -> str:
    """The strong ETag of the gzip-encoded representation: a different one, as RFC 9110 asks."""
    return etag[:-1] + '-gzip"'


def if_none_match(header: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` header (``*`` or a list of tags) names ``etag``.

    RFC 9110 uses the weak comparison here, so a ``W/`` prefix is ignored.
    """
    for raw in header.split(","):
        tag = raw.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


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


def host_name(host_header: str) -> str:
    """The host part of a ``Host`` header, lower-cased, port removed (``[::1]`` kept bracketed)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end != -1 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host_header: str | None, allowed: Iterable[str], *, ip_literals: bool) -> bool:
    """DNS-rebinding defence: only known names reach the server.

    A rebinding attack always arrives with the attacker's *name* in ``Host``, so a bare IP literal
    is safe to accept when the server is bound to all interfaces (``ip_literals``) and the user
    browses to it by address.
    """
    if not host_header:
        return False
    host = host_name(host_header)
    if host in allowed:
        return True
    if not ip_literals:
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
