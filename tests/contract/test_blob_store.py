"""The contract both session-bundle stores keep (a folder locally, the sessions bucket on AWS):
bytes or a stream in, the same bytes out, as a whole or as a stream."""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cellucid_cloud.core.ports import BlobStore
from cellucid_cloud.storage.filesystem import FilesystemObjectStore
from cellucid_cloud.storage.s3 import s3_client
from cellucid_cloud.storage.s3_blobs import S3BlobStore
from tests.aws import empty_bucket


@pytest.fixture(params=["filesystem", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "filesystem":
        yield FilesystemObjectStore(tmp_path / "sessions")
    else:
        client = s3_client(endpoint_url=request.getfixturevalue("moto_server"))
        bucket = f"blobs-{uuid.uuid4().hex}"
        client.create_bucket(Bucket=bucket)
        yield S3BlobStore(bucket, client)
        empty_bucket(client, bucket)
        client.delete_bucket(Bucket=bucket)


def test_bytes_and_streams_round_trip(blobs: BlobStore) -> None:
    data = bytes(range(256)) * 5000  # more than one 1 MiB copy piece
    blobs.put("sessions/v/a.cellucid-session", data)
    blobs.put("sessions/v/b.cellucid-session", io.BytesIO(data))
    for key in ("sessions/v/a.cellucid-session", "sessions/v/b.cellucid-session"):
        assert blobs.get(key) == data
        with contextlib.closing(blobs.open(key)) as stream:
            assert stream.read() == data
    blobs.delete("sessions/v/a.cellucid-session")
    with pytest.raises(FileNotFoundError):
        blobs.open("sessions/v/a.cellucid-session")


def test_a_download_url_serves_the_blob_or_there_is_none(blobs: BlobStore) -> None:
    """A store that hands out URLs (S3) gives one for that key only, as an attachment, for at
    most 15 minutes; a folder gives none (its host serves the bytes)."""
    data = bytes(range(256)) * 40_000  # over a Lambda response, base64-encoded or not
    blobs.put("sessions/v/big.cellucid-session", data)
    url = blobs.download_url("sessions/v/big.cellucid-session", "big.cellucid-session", 900)
    if isinstance(blobs, FilesystemObjectStore):
        assert url is None
        return
    assert url is not None
    reply = httpx.get(url)
    assert reply.status_code == 200 and reply.content == data
    disposition = reply.headers["content-disposition"]
    assert disposition == 'attachment; filename="big.cellucid-session"'
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["900"]
    assert urlsplit(url).path.endswith("/sessions/v/big.cellucid-session")
    with pytest.raises(ValueError, match="at most 900 seconds"):
        blobs.download_url("sessions/v/big.cellucid-session", "big.cellucid-session", 901)
