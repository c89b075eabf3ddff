"""Download a dataset file from a curator's link (``PUT …/datasets/{id}`` with ``{"link"}``).

The server fetches a URL a client chose, so the classic server-side request forgery defences
apply: http(s) only, every hop of a redirect re-checked, hosts that resolve to loopback,
private, link-local or otherwise non-global addresses refused (unless explicitly allowed, for a
lab's own file server), a size cap, and timeouts. Dropbox share links are turned into direct
download links, as curators paste those most.

Each hop connects to the very address that was checked (the request goes to that IP, with the
link's host in ``Host`` and, for https, in SNI and certificate checks): a name that resolves
to a public address for the check and to an internal one a moment later (DNS rebinding) cannot
steer the download inside.
"""

from __future__ import annotations

import ipaddress
import socket
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cellucid_cloud.core.files import staged

__all__ = ["LinkError", "check_link", "direct_download_url", "fetch_link", "is_public_address"]

MAX_REDIRECTS = 5
DOWNLOAD_DEADLINE = 600.0
"""Seconds for a whole download, redirects included (prepare's Lambda stops at 900)."""
DEFAULT_PORTS = {"http": 80, "https": 443}


class LinkError(Exception):
    """The link cannot be fetched; the message says why, for the curator."""


def direct_download_url(link: str) -> str:
    parts = urlsplit(link)
    if parts.hostname in ("www.dropbox.com", "dropbox.com"):
        query = dict(parse_qsl(parts.query))
        query["dl"] = "1"
        return urlunsplit(parts._replace(query=urlencode(query)))
    return link


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether the server may fetch from ``address`` on a client's behalf."""
    return address.is_global


def check_link(link: str, allow_private: bool) -> str | None:
    """Refuse a link the server must not fetch; return the checked address to connect to
    (None when private links are allowed: the system's resolver then decides)."""
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LinkError("the link must be an http(s) URL")
    if parts.username or parts.password:
        raise LinkError("links with credentials are not accepted")
    if allow_private:
        return None
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise LinkError(f"cannot resolve {parts.hostname}: {exc.strerror}") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses or not all(is_public_address(address) for address in addresses):
        raise LinkError(f"{parts.hostname} resolves to a non-public address; refused")
    return str(addresses[0])


def _pinned(url: str, address: str | None) -> tuple[Any, dict[str, str], dict[str, Any]]:
    """The request for ``url`` sent to ``address``: its URL, headers and httpx extensions."""
    import httpx

    logical = httpx.URL(url)
    if address is None:
        return logical, {}, {}
    extensions = {"sni_hostname": logical.host} if logical.scheme == "https" else {}
    return logical.copy_with(host=address), {"Host": logical.netloc.decode()}, extensions


def fetch_link(
    link: str,
    destination: Path,
    *,
    max_bytes: int,
    allow_private: bool = False,
    timeout: float = 60.0,
    deadline: float = DOWNLOAD_DEADLINE,
) -> int:
    """Stream ``link`` into ``destination`` (written under a temporary name, renamed when
    complete); returns the size. ``timeout`` bounds each connect and read, ``deadline`` the
    whole download. Raises :class:`LinkError` with a curator-readable reason."""
    import httpx  # it imports its CLI (rich, click): not at API start, only for a download

    url = direct_download_url(link)
    ends = time.monotonic() + deadline
    try:
        with (
            staged(destination, destination.parent / f".incoming-{uuid.uuid4().hex}") as download,
            httpx.Client(timeout=timeout, follow_redirects=False) as client,
        ):
            for _ in range(MAX_REDIRECTS + 1):
                target, headers, extensions = _pinned(url, check_link(url, allow_private))
                with client.stream("GET", target, headers=headers, extensions=extensions) as reply:
                    if reply.is_redirect and "location" in reply.headers:
                        url = str(httpx.URL(url).join(reply.headers["location"]))
                        continue
                    if reply.status_code != 200:
                        raise LinkError(f"the link answered HTTP {reply.status_code}")
                    declared = reply.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise LinkError(f"the file is larger than {max_bytes} bytes")
                    size = 0
                    with download.path.open("wb") as out:
                        for chunk in reply.iter_bytes():  # each piece as it arrives
                            size += len(chunk)
                            if size > max_bytes:
                                raise LinkError(f"the file is larger than {max_bytes} bytes")
                            if time.monotonic() > ends:
                                raise LinkError(f"the download took longer than {deadline:g} s")
                            out.write(chunk)
                    if size == 0:
                        raise LinkError("the link returned an empty file")
                    download.publish()
                    return size
            raise LinkError(f"more than {MAX_REDIRECTS} redirects")
    except httpx.HTTPError as exc:
        raise LinkError(f"could not download the link: {exc}") from None
