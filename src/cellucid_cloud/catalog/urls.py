"""Explorer URLs: the ids they carry, and the URLs we hand out.

A published dataset lives at ``<base>/e/<dataset_id>/``; a dataset version inside a revision at
``<base>/e/<dataset_version_id>/``; a legacy name-based link at ``<base>/e/<name>/``.

Parsing follows the data portal's own lookup: the id is the URL's *last path segment*, whatever
the scheme, host or path prefix before it (the cellxgene explorer asks about
``{web_base_url}/{dataroot}/{dataset}/``, e.g. ``/cellxgene/e/<id>.cxg/`` or ``/d/<id>/``).
Query and fragment are ignored; a ``.cxg`` suffix is removed as a suffix (cellxgene once used
``str.strip(".cxg")``, which ate the last hex digit of ids ending in ``c``); anything that is not
a plain id segment names nothing.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

__all__ = ["MAX_URL_LENGTH", "collection_page_url", "explorer_id", "explorer_url"]

MAX_URL_LENGTH = 2048
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,199}")


def explorer_id(url: str) -> str | None:
    """The dataset id, dataset version id or alias a URL names, or None if it names none.

    Accepts ``https://host/e/<id>/``, ``https://host/cellxgene/e/<id>.cxg/``, ``/d/<id>``, a bare
    ``<id>``...: the last path segment is the id (percent-decoded once, then checked, so ``%2F``
    cannot smuggle a separator in).
    """
    if not url or len(url) > MAX_URL_LENGTH:
        return None
    try:
        path = urlsplit(url.strip()).path
    except ValueError:  # "Invalid IPv6 URL" (``http://[::1/e/x/``) and other netloc errors
        return None
    segments = [s for s in path.split("/") if s]
    if not segments:
        return None
    candidate = unquote(segments[-1]).removesuffix(".cxg")
    return candidate if _ID.fullmatch(candidate) else None


def explorer_url(base_url: str, explorer_key: str) -> str:
    """The URL a viewer opens for a dataset id, dataset version id or alias."""
    return f"{base_url.rstrip('/')}/e/{explorer_key}/"


def collection_page_url(base_url: str, collection_id: str) -> str:
    """The public page of a collection (the portal's ``/collections/<id>``)."""
    return f"{base_url.rstrip('/')}/collections/{collection_id}"
