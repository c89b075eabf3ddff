"""HTTP requests sent byte-for-byte over a raw socket, for what a client library would refuse
or normalise away: dot segments, backslashes, odd encodings, missing or doubled ``Host``."""

from __future__ import annotations

import socket


def raw_request(base: str, head: bytes) -> tuple[int, bytes]:
    """Send ``head`` (request line and headers, without the blank line ending them) to the
    server at ``base`` and read until it closes; the status and the whole reply."""
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(head + b"\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1]), reply


def raw_request_unfinished(base: str, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send ``head`` and then ``body``, but never the rest of the body ``head`` announces,
    and read until the server closes: the status and reply of a server that answers before
    the body is complete (a server that waits for it makes the socket time out)."""
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(head + b"\r\nConnection: close\r\n\r\n" + body)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1]), reply


def raw_get(base: str, target: str, host: str = "127.0.0.1") -> tuple[int, bytes]:
    """``GET target`` with no client-side normalisation; status and whole reply."""
    return raw_request(base, f"GET {target} HTTP/1.1\r\nHost: {host}".encode())
