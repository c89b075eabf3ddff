"""Which ``Host`` headers reach a local server (the DNS-rebinding defence), and what a bind
address means for them: ``up`` and ``serve`` apply the same rules.

Loopback names are always served; the bind host joins them; a wildcard bind (any unspecified
address: ``0.0.0.0``, ``::``, ``::0``, ``0:0::0``…) also admits IP-literal hosts, so the server
is reachable by address but never through a rebinding name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_ALLOWED_HOSTS",
    "Binding",
    "host_allowed",
    "host_name",
    "is_wildcard",
    "refusal",
]

DEFAULT_ALLOWED_HOSTS = ("127.0.0.1", "localhost", "[::1]")


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


def is_wildcard(host: str) -> bool:
    """Whether a bind address listens on every interface (an unspecified IP address)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Binding:
    """What a server bound to ``host`` accepts and announces."""

    host: str

    @property
    def url_host(self) -> str:
        """The bind host as a URL holds it (an IPv6 address bracketed)."""
        return f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host

    @property
    def wildcard(self) -> bool:
        return is_wildcard(self.host)

    @property
    def allowed_hosts(self) -> list[str]:
        """The ``Host`` names served: the loopback names and the bind host."""
        return [*DEFAULT_ALLOWED_HOSTS, self.url_host]

    def base_url(self, port: int) -> str:
        """Where to browse to: loopback for a wildcard bind, else the bind host."""
        return f"http://{'127.0.0.1' if self.wildcard else self.url_host}:{port}"


def refusal(host_header: str | None) -> str:
    """Why a request with this ``Host`` gets a 421."""
    return (
        f"Host {host_header!r} is not served here (DNS-rebinding protection); "
        "use http://127.0.0.1 or localhost"
    )
