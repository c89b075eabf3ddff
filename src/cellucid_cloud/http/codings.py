"""Content codings (RFC 9110 §8.4, §12.5.3): whether a client takes gzip, and the tag of the
gzip-encoded representation."""

from __future__ import annotations

__all__ = ["accepts_gzip", "gzip_etag"]


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
