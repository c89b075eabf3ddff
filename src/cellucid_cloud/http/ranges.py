"""``Range`` requests (RFC 9110 §14): the single byte range a request asks for."""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["UNSATISFIABLE", "content_range", "parse_range"]

UNSATISFIABLE: Literal["unsatisfiable"] = "unsatisfiable"
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
_MAX_DIGITS = 18
"""Positions with more significant digits lie beyond any file (and ``int()`` refuses strings
of over 4,300 digits)."""


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


def content_range(start: int, stop: int, size: int) -> str:
    """The ``Content-Range`` of the bytes ``[start, stop)`` of ``size``."""
    return f"bytes {start}-{stop - 1}/{size}"
