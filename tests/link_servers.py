"""File servers for link ingestion tests: one that misbehaves on request (redirect chains,
undeclared, lying, trickling and stalled bodies), over HTTP or HTTPS with a test CA, on an
address the link policy is told to call public."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from cellucid_cloud.storage import link_fetch

FILE_SERVER = "127.0.0.2"
"""A loopback address that :func:`file_server_is_public` makes the link policy call public."""


def file_server_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let links reach :data:`FILE_SERVER` (and still refuse every other non-global one)."""

    def public(address: Any) -> bool:
        return str(address) == FILE_SERVER or bool(address.is_global)

    monkeypatch.setattr(link_fetch, "is_public_address", public)


STOP = threading.Event()
"""Set when a server shuts down: trickling and stalled answers end."""


class Misbehaving(BaseHTTPRequestHandler):
    """``GET`` paths (query parameters as integers):

    * ``/hops?n=N`` redirects N times (relative ``Location``), then serves ``file``;
    * ``/chunked?n=N`` N bytes, chunked; ``/close?n=N`` N bytes delimited by closing;
    * ``/lying?declared=D&sent=S`` declares D bytes and writes S;
    * ``/trickle?n=N`` declares N bytes and writes one every 50 ms;
    * ``/stall?declared=D`` declares D bytes, writes 10 and then nothing;
    * anything else: ``file``.

    Every request's ``Host`` header is recorded in ``hosts``.
    """

    protocol_version = "HTTP/1.1"
    hosts: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hosts.append(self.headers.get("Host", ""))
        parts = urlsplit(self.path)
        query = {k: int(v[0]) for k, v in parse_qs(parts.query).items()}
        match parts.path:
            case "/hops" if query["n"] > 0:
                self.send_response(302)
                self.send_header("Location", f"/hops?n={query['n'] - 1}")
                self.send_header("Content-Length", "0")
                self.end_headers()
            case "/chunked":
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for start in range(0, query["n"], 1000):
                    piece = b"x" * min(1000, query["n"] - start)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
            case "/close":
                self.send_response(200)
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(b"x" * query["n"])
                self.close_connection = True
            case "/lying":
                self._declare(query["declared"])
                self.wfile.write(b"x" * query["sent"])
                self.close_connection = True
            case "/trickle":
                self._declare(query["n"])
                for _ in range(query["n"]):
                    if STOP.wait(0.05):
                        break
                    self.wfile.write(b"x")
                    self.wfile.flush()
            case "/stall":
                self._declare(query["declared"])
                self.wfile.write(b"x" * 10)
                self.wfile.flush()
                STOP.wait(30)
                self.close_connection = True
            case _:
                self._declare(4)
                self.wfile.write(b"file")

    def _declare(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(
    handler: type[BaseHTTPRequestHandler],
    host: str,
    port: int = 0,
    tls: ssl.SSLContext | None = None,
) -> Iterator[int]:
    """Serve ``handler`` on ``host`` in threads; yields the port."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    STOP.clear()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        STOP.set()
        server.shutdown()
        server.server_close()


@dataclass
class Certificates:
    """A CA (in ``ca_file``, for clients to trust) and a server context whose certificate,
    signed by it, names ``hostname``; ``server_names`` records the SNI of each handshake."""

    ca_file: Path
    server: ssl.SSLContext
    server_names: list[str | None]


def certificates(folder: Path, hostname: str) -> Certificates:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(
        subject: str, key: Any, issuer: str, signer: Any, *extensions: tuple[Any, bool]
    ) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate(
        "cellucid test CA",
        ca_key,
        "cellucid test CA",
        ca_key,
        (x509.BasicConstraints(ca=True, path_length=None), True),
        (x509.KeyUsage(False, False, False, False, False, True, True, False, False), True),
        (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False),
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = certificate(
        hostname,
        key,
        "cellucid test CA",
        ca_key,
        (x509.SubjectAlternativeName([x509.DNSName(hostname)]), False),
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False),
    )
    pem = serialization.Encoding.PEM
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_file.write_bytes(ca.public_bytes(pem))
    cert_file.write_bytes(leaf.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    names: list[str | None] = []

    def record(_socket: Any, name: str | None, _context: Any) -> None:
        names.append(name)

    server.sni_callback = record
    return Certificates(ca_file, server, names)


def resolving(monkeypatch: pytest.MonkeyPatch, name: str, address: str) -> None:
    """Make ``name`` resolve to ``address`` (and nothing else change)."""
    import socket

    real = socket.getaddrinfo
    ipaddress.ip_address(address)

    def patched(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return real(address if host == name else host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", patched)
