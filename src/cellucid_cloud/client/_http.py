"""The one place HTTP answers become results or :mod:`~cellucid_cloud.client.errors`."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx

from cellucid_cloud.client.errors import ApiError, NotFoundError, ServerError

__all__ = [
    "DEFAULT_TIMEOUT",
    "Document",
    "HttpClientOwner",
    "check",
    "error_detail",
    "json_object",
    "send",
]

Document = dict[str, Any]
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class HttpClientOwner:
    """A client of the API over an ``httpx.Client``: the caller's, or one made here (and then
    closed with this one); a context manager that closes on exit."""

    def __init__(self, http: httpx.Client | None, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> None:
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None

    def close(self) -> None:
        """Close the HTTP client if this client made it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def send(http: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """``http.request``, with "no answer" (connection error, timeout) as :class:`ServerError`."""
    try:
        return http.request(method, url, **kwargs)
    except httpx.TransportError as exc:
        raise ServerError(None, f"{method} {url} got no answer: {exc!r}") from exc


def check(response: httpx.Response) -> httpx.Response:
    """The response if it succeeded; otherwise the error it carries, raised."""
    if response.is_success:
        return response
    status = response.status_code
    error = ServerError if status >= 500 else NotFoundError if status == 404 else ApiError
    raise error(status, error_detail(response))


def error_detail(response: httpx.Response) -> str:
    """The API's ``{"detail": ...}``, or the start of whatever else answered (a proxy, S3)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])
    return response.text.strip()[:500] or response.reason_phrase


def json_object(response: httpx.Response) -> Document:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ServerError(response.status_code, f"expected a JSON object from {response.url}")
    return body
