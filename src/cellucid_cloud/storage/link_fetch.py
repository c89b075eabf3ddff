"""Download a dataset file from a curator's link (``PUT …/datasets/{id}`` with ``{"link"}``).

The server fetches a URL a client chose, so the classic server-side request forgery defences
apply: http(s) only, every hop of a redirect re-checked, hosts that resolve to loopback,
private, link-local or otherwise non-global addresses refused (unless explicitly allowed, for a
lab's own file server), a size cap, and timeouts. Dropbox share links are turned into direct
download links, as curators paste those most.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["LinkError", "direct_download_url", "fetch_link"]

MAX_REDIRECTS = 5


class LinkError(Exception):
    """The link cannot be fetched; the message says why, for the curator."""


def direct_download_url(link: str) -> str:
    parts = urlsplit(link)
    if parts.hostname in ("www.dropbox.com", "dropbox.com"):
        query = dict(parse_qsl(parts.query))
        query["dl"] = "1"
        return urlunsplit(parts._replace(query=urlencode(query)))
    return link


def check_link(link: str, allow_private: bool) -> None:
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LinkError("the link must be an http(s) URL")
    if parts.username or parts.password:
        raise LinkError("links with credentials are not accepted")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise LinkError(f"cannot resolve {parts.hostname}: {exc.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise LinkError(f"{parts.hostname} resolves to a non-public address; refused")


def fetch_link(
    link: str,
    destination: Path,
    *,
    max_bytes: int,
    allow_private: bool = False,
    timeout: float = 60.0,
) -> int:
    """Stream ``link`` into ``destination`` (written under a temporary name, renamed when
    complete); returns the size. Raises :class:`LinkError` with a curator-readable reason."""
    import httpx  # it imports its CLI (rich, click): not at API start, only for a download

    url = direct_download_url(link)
    partial = destination.parent / f".incoming-{uuid.uuid4().hex}"
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                check_link(url, allow_private)
                with client.stream("GET", url) as reply:
                    if reply.is_redirect and "location" in reply.headers:
                        url = str(reply.url.join(reply.headers["location"]))
                        continue
                    if reply.status_code != 200:
                        raise LinkError(f"the link answered HTTP {reply.status_code}")
                    declared = reply.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise LinkError(f"the file is larger than {max_bytes} bytes")
                    size = 0
                    with partial.open("wb") as out:
                        for chunk in reply.iter_bytes(1 << 20):
                            size += len(chunk)
                            if size > max_bytes:
                                raise LinkError(f"the file is larger than {max_bytes} bytes")
                            out.write(chunk)
                    if size == 0:
                        raise LinkError("the link returned an empty file")
                    os.replace(partial, destination)
                    return size
            raise LinkError(f"more than {MAX_REDIRECTS} redirects")
    except httpx.HTTPError as exc:
        raise LinkError(f"could not download the link: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
