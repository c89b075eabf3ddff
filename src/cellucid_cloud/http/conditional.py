"""Conditional requests: entity tags, ``If-None-Match`` and ``If-Range`` (RFC 9110 §13), and
the cacheable JSON answers they revalidate.

``If-None-Match`` compares weakly (§13.1.2): a CDN that compresses an answer weakens its ETag
and the browser sends ``W/"…"`` back, which still names the same representation. ``If-Range``
compares strongly (§13.1.5): a weak tag or a date cannot vouch that a partial copy's bytes
are the current ones.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cellucid_cloud.http.answers import JSON, Answer, json_bytes

__all__ = ["cached_json", "entity_tag", "if_none_match", "if_range"]


def entity_tag(body: bytes) -> str:
    """A strong ETag of a body's bytes."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def if_none_match(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header (``*`` or a list of tags) names ``etag``, by the
    weak comparison: a ``W/`` prefix is ignored. No header names nothing."""
    for raw in (header or "").split(","):
        tag = raw.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def if_range(header: str | None, etag: str) -> bool:
    """Whether a ``Range`` applies under ``If-Range``: no header, or exactly the strong
    ``etag``. A weak tag, another tag or a date (we send no ``Last-Modified``) asks for the
    whole representation."""
    return header is None or header.strip() == etag


def cached_json(
    document: Any, max_age: int, if_none_match_header: str | None, status: int = 200
) -> Answer:
    """``document`` as JSON, public for ``max_age`` seconds, revalidatable by ETag: a 304
    without a body when the request already holds it."""
    body = json_bytes(document)
    etag = entity_tag(body)
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if status == 200 and if_none_match(if_none_match_header, etag):
        return Answer(304, b"", headers)
    return Answer(status, body, {"Content-Type": JSON, **headers})
