"""The contract both upload URL adapters keep (a presigned S3 PUT; the local stack's signed
token over its real upload route): a URL takes one body of the declared length, for its one
key, for at most 15 minutes, and never more than the cap it was asked for.

moto checks no signature, so for S3 whether a request would be taken is S3's rule recomputed
(:func:`~tests.integration.test_s3_storage.s3_accepts`), and a request it would take is then
sent to moto, which stores it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from cellucid_cloud.core.ports import UploadUrls
from cellucid_cloud.local.upload_claims import UploadClaims
from cellucid_cloud.local.uploads import UploadRoute
from cellucid_cloud.storage.filesystem import FilesystemObjectStore
from cellucid_cloud.storage.local_multipart import LocalMultipartUploads
from cellucid_cloud.storage.local_upload_urls import LocalUploadUrls
from cellucid_cloud.storage.s3 import S3UploadUrls, s3_client
from cellucid_cloud.storage.upload_urls import MAX_UPLOAD_EXPIRY, UploadUrl, UploadUrlError
from tests.aws import empty_bucket
from tests.integration.test_s3_storage import s3_accepts
from tests.live_app import ManualClock, reserve_socket, serving_app

KEY = "collection-1/dataset-1/upload-1.h5ad"
OTHER_KEY = "collection-1/dataset-1/upload-2.h5ad"
DATA = bytes(range(256)) * 4


@dataclass
class Adapter:
    urls: UploadUrls
    put: Callable[[UploadUrl, str, bytes, float], bool]
    """PUT a body to the URL (with its headers) that many seconds after it was issued, as
    given or with its key changed to another; whether the store took it."""
    read: Callable[[str], bytes | None]
    """The object at a key, None if there is none."""


def _local(tmp_path: Path) -> Iterator[Adapter]:
    sock = reserve_socket()
    clock = ManualClock()
    store = FilesystemObjectStore(tmp_path / "uploads")
    urls = LocalUploadUrls(f"http://127.0.0.1:{sock.getsockname()[1]}", "s" * 32, clock)
    multipart = LocalMultipartUploads(tmp_path / "multipart", store, urls, lambda _: None)
    route = UploadRoute(
        urls, store, lambda _: None, multipart, UploadClaims(tmp_path / "claims"), lambda _: None
    )
    app = Starlette(routes=[Route("/_cellucid/upload", route.__call__, methods=["PUT"])])
    issued = clock.now

    def put(url: UploadUrl, key: str, body: bytes, after: float) -> bool:
        assert key == KEY  # the key is inside the signed token: a URL cannot name another
        clock.now = issued + after
        return httpx.put(url.url, content=body, headers=url.headers).status_code == 200

    def read(key: str) -> bytes | None:
        path = store.path(key)
        return path.read_bytes() if path.exists() else None

    with serving_app(app, sock):
        yield Adapter(urls, put, read)


def _s3(moto_server: str) -> Iterator[Adapter]:
    client = s3_client(endpoint_url=moto_server)
    bucket = f"uploads-{uuid.uuid4().hex}"
    client.create_bucket(Bucket=bucket)

    def put(url: UploadUrl, key: str, body: bytes, after: float) -> bool:
        target = url.url.replace(f"/{KEY}?", f"/{key}?")
        issued = datetime.strptime(
            parse_qs(urlsplit(target).query)["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ"
        ).replace(tzinfo=UTC)
        headers = {**url.headers, "Content-Length": str(len(body))}
        if not s3_accepts(target, "PUT", headers, issued + timedelta(seconds=after)):
            return False
        reply = httpx.put(target, content=body, headers=url.headers)
        assert reply.status_code == 200, reply.text
        return True

    def read(key: str) -> bytes | None:
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except client.exceptions.NoSuchKey:
            return None

    yield Adapter(S3UploadUrls(bucket, client), put, read)
    empty_bucket(client, bucket)
    client.delete_bucket(Bucket=bucket)


@pytest.fixture(params=["local", "s3"])
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Adapter]:
    if request.param == "local":
        yield from _local(tmp_path)
    else:
        yield from _s3(request.getfixturevalue("moto_server"))


def test_a_url_takes_the_declared_bytes_for_its_one_key(adapter: Adapter) -> None:
    url = adapter.urls.upload_url(KEY, max_bytes=10_000, expires_in=300, size=len(DATA))
    assert url.max_bytes == len(DATA) and url.expires_in == 300
    assert adapter.put(url, KEY, DATA, 0)
    assert adapter.read(KEY) == DATA
    assert adapter.read(OTHER_KEY) is None


def test_a_url_takes_exactly_the_declared_length(adapter: Adapter) -> None:
    url = adapter.urls.upload_url(KEY, max_bytes=10_000, expires_in=300, size=len(DATA))
    assert not adapter.put(url, KEY, DATA + b"x", 0)
    assert not adapter.put(url, KEY, DATA[:-1], 0)
    assert adapter.read(KEY) is None


def test_a_url_lives_at_most_15_minutes(adapter: Adapter) -> None:
    url = adapter.urls.upload_url(KEY, max_bytes=10_000, expires_in=86_400, size=len(DATA))
    assert url.expires_in == MAX_UPLOAD_EXPIRY
    assert not adapter.put(url, KEY, DATA, MAX_UPLOAD_EXPIRY + 1)
    assert adapter.read(KEY) is None
    assert adapter.put(url, KEY, DATA, MAX_UPLOAD_EXPIRY - 1)


def test_a_size_over_the_cap_gets_no_url_that_takes_it(adapter: Adapter) -> None:
    big = DATA * 2
    try:
        url = adapter.urls.upload_url(KEY, max_bytes=len(DATA), expires_in=300, size=len(big))
    except UploadUrlError:
        return
    assert url.max_bytes <= len(DATA)
    assert not adapter.put(url, KEY, big, 0)
    assert adapter.read(KEY) is None


def test_without_a_declared_size_the_cap_holds(adapter: Adapter) -> None:
    """S3, which signs the exact length, refuses to guess one; the local adapter takes any
    body up to the cap."""
    if isinstance(adapter.urls, S3UploadUrls):
        with pytest.raises(UploadUrlError, match="size"):
            adapter.urls.upload_url(KEY, max_bytes=len(DATA), expires_in=300)
        return
    url = adapter.urls.upload_url(KEY, max_bytes=len(DATA), expires_in=300)
    assert url.max_bytes == len(DATA)
    assert not adapter.put(url, KEY, DATA + b"x", 0)
    assert adapter.put(url, KEY, DATA[:10], 0)
    assert adapter.read(KEY) == DATA[:10]
