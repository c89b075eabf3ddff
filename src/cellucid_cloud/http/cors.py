"""CORS for the public reads (exports, ``datasets.json``, the Cellucid discovery routes), so
the Cellucid web app on another origin can load them (``?exportsBaseUrl=<server>``), errors
included. No credentials are involved, so ``*`` is safe.

``serve`` answers every path with these headers; ``up`` only its public reads (curation,
uploads and event posts stay same-origin); on AWS CloudFront's response headers policy and
the exports bucket's CORS rule expose the same headers (``tests/unit/test_template.py``).
"""

from __future__ import annotations

__all__ = ["ALLOWED_METHODS", "EXPOSED_HEADERS", "PREFLIGHT_HEADERS", "PUBLIC_READ_HEADERS"]

ALLOWED_METHODS = ("GET", "HEAD", "OPTIONS")
EXPOSED_HEADERS = ("Content-Length", "Content-Range", "ETag", "Accept-Ranges", "Content-Encoding")
"""What the web app's range reads and revalidations look at (``serve`` may gzip a payload)."""
ALLOWED_HEADERS = ("Range", "If-None-Match", "If-Range", "Content-Type")

PUBLIC_READ_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": ", ".join(ALLOWED_METHODS),
    "Access-Control-Expose-Headers": ", ".join(EXPOSED_HEADERS),
}
"""On every answer to a public read."""
PREFLIGHT_HEADERS = {
    **PUBLIC_READ_HEADERS,
    "Access-Control-Allow-Headers": ", ".join(ALLOWED_HEADERS),
    "Access-Control-Max-Age": "86400",
}
"""On the 204 answer to a preflight (``OPTIONS``)."""
