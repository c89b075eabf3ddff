"""Explorer URL → dataset, for an explorer backend or a notebook, with a correct cache.

Answers are cached with *absolute* expiry: an entry dies a fixed time after it was fetched,
however often it is read (a sliding expiry, as the reference explorer had, never refreshes a
popular dataset). That time is ``ttl`` for a dataset and ``miss_ttl`` for an unknown URL, and
never more than the server's ``Cache-Control: max-age`` (less ``Age``): the server reports the
time left on its own cache entry, so honouring it keeps the total staleness after a publish
within the server's TTL instead of adding ours on top. Errors and timeouts are never cached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

import httpx
from cachetools import TLRUCache
from pydantic import BaseModel, ConfigDict, ValidationError

from cellucid_cloud.client._http import (
    Document,
    HttpClientOwner,
    check,
    error_detail,
    json_object,
    send,
)
from cellucid_cloud.client.errors import DatasetNotFound, ServerError

__all__ = ["Contact", "ExplorerResolver", "Resolution"]


class Contact(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    email: str


class Resolution(BaseModel):
    """What an explorer URL shows. A live dataset has its export's location once processed
    (``export_url``, ``explorer_s3_uri``); a withdrawn one has ``tombstoned`` and ``contact``
    instead, so the explorer can say whom to ask."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    dataset_id: str
    dataset_version_id: str | None = None
    collection_id: str
    collection_visibility: Literal["PUBLIC", "PRIVATE"]
    explorer_url: str
    explorer_s3_uri: str | None = None
    export_url: str | None = None
    tombstoned: bool
    contact: Contact | None = None


@dataclass(frozen=True, slots=True)
class _Entry:
    resolution: Resolution | None
    """None: the server answered 404 (with ``detail``)."""
    detail: str
    lifetime: float


def _expires(key: str, entry: _Entry, now: float) -> float:
    return now + entry.lifetime


class ExplorerResolver(HttpClientOwner):
    """Resolves explorer URLs through ``GET /dp/v1/datasets/meta``; safe to share between
    threads. An unknown URL raises :class:`DatasetNotFound`; a failure raises
    :class:`ServerError` (or another :class:`ApiError`, e.g. 422 for a URL that is not an
    explorer URL)."""

    def __init__(
        self,
        api_base_url: str,
        *,
        ttl: float = 60.0,
        miss_ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        http: httpx.Client | None = None,
        maxsize: int = 10_000,
    ) -> None:
        if ttl < 0 or miss_ttl < 0:
            raise ValueError("ttl and miss_ttl must be >= 0 (0: no caching)")
        self.api = api_base_url.rstrip("/")
        self.ttl = ttl
        self.miss_ttl = min(miss_ttl, ttl)
        super().__init__(http)
        self._cache: TLRUCache[str, _Entry, float] = TLRUCache(maxsize, _expires, clock)
        self._lock = threading.Lock()

    def resolve(self, explorer_url: str) -> Resolution:
        """The dataset behind ``explorer_url`` (any host; the server normalises the path)."""
        with self._lock:
            entry = self._cache.get(explorer_url)
        if entry is None:
            entry = self._fetch(explorer_url)
            if entry.lifetime > 0:
                with self._lock:
                    self._cache[explorer_url] = entry
        if entry.resolution is None:
            raise DatasetNotFound(404, entry.detail)
        return entry.resolution

    def collection(self, collection_id: str) -> Document:
        """``GET /dp/v1/collections/{id}``: the collection's datasets and explorer URLs. Not
        cached (the server does not cache it either: curators expect their change at once)."""
        url = f"{self.api}/dp/v1/collections/{quote(collection_id, safe='')}"
        return json_object(check(send(self._http, "GET", url)))

    def _fetch(self, explorer_url: str) -> _Entry:
        response = send(
            self._http, "GET", f"{self.api}/dp/v1/datasets/meta", params={"url": explorer_url}
        )
        if response.status_code == 404:
            return _Entry(None, error_detail(response), _lifetime(response, self.miss_ttl))
        try:
            resolution = Resolution.model_validate(json_object(check(response)))
        except ValidationError as exc:
            raise ServerError(response.status_code, f"not a meta answer: {exc}") from exc
        return _Entry(resolution, "", _lifetime(response, self.ttl))


def _lifetime(response: httpx.Response, limit: float) -> float:
    """How long an answer may be reused: ``limit``, capped by what its headers allow."""
    directives: dict[str, str] = {}
    for part in response.headers.get("cache-control", "").split(","):
        name, _, value = part.strip().partition("=")
        directives[name.lower()] = value.strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    max_age = directives.get("max-age")
    if max_age is None:
        return limit
    if not max_age.isdigit():
        return 0.0
    age = response.headers.get("age", "0")
    return max(0.0, min(limit, int(max_age) - (int(age) if age.isdigit() else 0)))
