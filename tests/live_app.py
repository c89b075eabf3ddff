"""The local stack's real app served by uvicorn in a thread, for tests that need a real HTTP
server and also a hand on the stack (its clocks, its files) or on the socket it listens on;
and what client tests put around it: a clock they move, a transport that counts requests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from starlette.types import ASGIApp

from cellucid_cloud.http.hosts import DEFAULT_ALLOWED_HOSTS
from cellucid_cloud.local.app import build_local_app
from cellucid_cloud.local.stack import LocalStack, StackSettings


class ManualClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingTransport(httpx.BaseTransport):
    """A real HTTP transport that records each request (and its body's chunks as sent), and
    answers the next request with a scripted status instead when told to (``fail_next``)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[httpx.Request] = []
        self.chunks: list[list[int]] = []
        self.fail_next: list[int] = []

    def count(self, path: str) -> int:
        """How many requests went to ``path``."""
        return sum(request.url.path == path for request in self.requests)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_next:
            status = self.fail_next.pop(0)
            return httpx.Response(status, json={"detail": "injected failure", "status": status})
        sizes: list[int] = []
        self.chunks.append(sizes)
        request.stream = _Recorded(request.stream, sizes)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class _Recorded(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream | httpx.AsyncByteStream, sizes: list[int]):
        assert isinstance(stream, httpx.SyncByteStream)
        self.stream = stream
        self.sizes = sizes

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.stream:
            self.sizes.append(len(chunk))
            yield chunk


@dataclass
class Served:
    base_url: str
    stack: LocalStack


def reserve_socket() -> socket.socket:
    """A loopback socket bound to a free port but not listening yet: connections to it are
    refused until :func:`serving` is given it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(
    data_dir: Path,
    *,
    meta_ttl: float,
    meta_miss_ttl: float = 5.0,
    sock: socket.socket | None = None,
) -> Iterator[Served]:
    """Serve a local stack on ``sock`` (default: a fresh one) until the block ends. The upload
    worker is not started: uploads are stored, never processed."""
    sock = sock or reserve_socket()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    stack = LocalStack(
        StackSettings(
            data_dir=data_dir, base_url=base_url, meta_ttl=meta_ttl, meta_miss_ttl=meta_miss_ttl
        )
    )
    with serving_app(build_local_app(stack, list(DEFAULT_ALLOWED_HOSTS)), sock):
        yield Served(base_url, stack)


@contextmanager
def serving_app(app: ASGIApp, sock: socket.socket) -> Iterator[None]:
    """Serve ``app`` with uvicorn in a thread on ``sock`` until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "the server thread died"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
