"""Faults injected into botocore itself, for the functions' real clients.

:func:`injected` adds event handlers to every botocore session created inside its block (the
list botocore registers its own handlers from), and rebuilds the functions' cached parts so
that their clients are created there. Handlers then fail chosen calls the way AWS does:
:class:`FailAfter` raises from ``before-call`` once N calls went through (a process dying
mid-upload, seen from the caller); :class:`Respond` answers ``before-send`` with an HTTP
error response for the first K matching requests (throttling, 500s), which botocore's retry
logic then handles exactly as if AWS had sent it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import botocore.handlers
import pytest
from botocore.awsrequest import AWSResponse

from tests.cloud import reset_function_caches

__all__ = ["FailAfter", "InjectedFaultError", "Respond", "dynamodb_error", "injected", "s3_error"]

Handler = tuple[str, Callable[..., Any]]


class InjectedFaultError(RuntimeError):
    """What :class:`FailAfter` raises."""


@contextmanager
def injected(*handlers: Handler) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            botocore.handlers,
            "BUILTIN_HANDLERS",
            [*botocore.handlers.BUILTIN_HANDLERS, *handlers],
        )
        reset_function_caches()
        try:
            yield
        finally:
            reset_function_caches()


class FailAfter:
    """``before-call`` handler: let ``n`` calls through, then raise on every later one."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0
        self.failed = 0
        self._lock = threading.Lock()

    def __call__(self, **kwargs: Any) -> None:
        with self._lock:
            self.calls += 1
            if self.calls <= self.n:
                return
            self.failed += 1
        raise InjectedFaultError(f"injected: the connection died after {self.n} PutObject calls")


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self.data


class Respond:
    """``before-send`` handler: answer the first ``times`` requests whose body contains
    ``when`` (all, by default) with ``status`` and ``body``; pass the others to the server."""

    def __init__(
        self, status: int, body: bytes, times: int, when: bytes = b"", content_type: str = ""
    ) -> None:
        self.status = status
        self.body = body
        self.times = times
        self.when = when
        self.content_type = content_type
        self.sent = 0
        self.passed = 0
        self._lock = threading.Lock()

    def __call__(self, request: Any, **kwargs: Any) -> AWSResponse | None:
        body = request.body if isinstance(request.body, bytes) else b""
        with self._lock:
            if self.when not in body or self.sent >= self.times:
                self.passed += 1
                return None
            self.sent += 1
        headers = {"Content-Type": self.content_type, "x-amzn-RequestId": "injected"}
        return AWSResponse(request.url, self.status, headers, _Body(self.body))


def s3_error(status: int, code: str, message: str, times: int) -> Respond:
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
    return Respond(status, body, times, content_type="application/xml")


def dynamodb_error(status: int, code: str, message: str, times: int, when: str = "") -> Respond:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message})
    return Respond(
        status, body.encode(), times, when.encode(), content_type="application/x-amz-json-1.0"
    )
