"""Sending a large file's parts: a few at a time, each from its own offset on disk, each to a
fresh part URL, each retried on its own when the network or the store fails.

Part URLs live minutes, so they are asked for a batch at a time just before use (and again
for a retry), never all at the start of an upload that may take hours.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import httpx
from pydantic import BaseModel, ConfigDict

from cellucid_cloud.client._http import check, send
from cellucid_cloud.client.errors import ApiError, ServerError

__all__ = ["PART_ATTEMPTS", "PART_WORKERS", "PartUrl", "send_parts"]

PART_WORKERS = 4
"""Parts in flight at once."""
PART_ATTEMPTS = 3
"""Tries per part before the upload fails."""
CHUNK = 1024 * 1024


class PartUrl(BaseModel):
    """Where to PUT part ``part_number``: exactly ``size`` bytes, with ``headers``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    part_number: int
    url: str
    size: int
    headers: dict[str, str] = {}


def send_parts(
    http: httpx.Client,
    path: Path,
    part_size: int,
    part_count: int,
    urls_for: Callable[[Sequence[int]], list[PartUrl]],
    progress: Callable[[int], None] | None = None,
) -> dict[int, str]:
    """PUT every part of ``path``; their ETags by part number. ``urls_for`` asks the API for
    part URLs. ``progress`` gets the bytes of each chunk sent, and minus the bytes of a part
    that failed and is sent again."""
    lock = threading.Lock()

    def advance(sent: int) -> None:
        if progress is not None:
            with lock:
                progress(sent)

    def one(url: PartUrl) -> tuple[int, str]:
        attempt = 1
        while True:
            sent = 0

            def counted(chunk: int) -> None:
                nonlocal sent
                sent += chunk
                advance(chunk)

            try:
                return url.part_number, _put(http, path, part_size, url, counted)
            except ApiError as error:
                advance(-sent)
                retryable = isinstance(error, ServerError) or error.status in (400, 403)
                if attempt == PART_ATTEMPTS or not retryable:
                    raise
            attempt += 1
            [url] = urls_for([url.part_number])  # a fresh URL: the old one may have expired

    etags: dict[int, str] = {}
    batch = 2 * PART_WORKERS
    with ThreadPoolExecutor(PART_WORKERS, thread_name_prefix="upload-part") as pool:
        for first in range(1, part_count + 1, batch):
            numbers = list(range(first, min(first + batch, part_count + 1)))
            etags.update(pool.map(one, urls_for(numbers)))
    return etags


def _put(
    http: httpx.Client, path: Path, part_size: int, url: PartUrl, sent: Callable[[int], None]
) -> str:
    with path.open("rb") as stream:
        stream.seek((url.part_number - 1) * part_size)
        headers = {**url.headers, "Content-Length": str(url.size)}
        body = _chunks(stream, url.size, sent)
        reply = check(send(http, "PUT", url.url, content=body, headers=headers))
    etag = reply.headers.get("etag")
    if not etag:
        raise ServerError(reply.status_code, f"part {url.part_number}: the store sent no ETag")
    return str(etag)


def _chunks(stream: BinaryIO, length: int, sent: Callable[[int], None]) -> Iterator[bytes]:
    while length > 0 and (chunk := stream.read(min(CHUNK, length))):
        length -= len(chunk)
        yield chunk
        sent(len(chunk))
