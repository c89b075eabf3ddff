"""S3 adapter of the distributed export's ports (``Objects``, ``ByteRanges`` in
:mod:`cellucid_cloud.core.ports`).

Export objects get the Content-Type and immutable Cache-Control of every export
(:mod:`.s3`); a create-only PUT is S3's conditional write (``If-None-Match: *``), and a
refusal (412) is no error when the object already holds the same bytes (its ETag is their
MD5), so a retried block can store its files again. Reads of an upload are pinned to its
ETag (``If-Match``): a file replaced while it is read fails the read instead of mixing two
files. A spill shard goes up from its parts through s3transfer, multipart when large.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Buffer, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from cellucid_cloud.catalog.processing import StoredUpload
from cellucid_cloud.storage.object_store import EXPORT_CACHE_CONTROL, content_type
from cellucid_cloud.storage.s3 import NOT_FOUND, S3ObjectStore, transfer_config

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

__all__ = ["S3Objects", "S3Ranges"]


def _code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3Ranges:
    """One object at one ETag, read by byte ranges."""

    def __init__(self, client: S3Client, bucket: str, key: str, etag: str, size: int) -> None:
        self._client = client
        self.bucket = bucket
        self.key = key
        self.etag = etag
        self.size = size

    def read(self, start: int, stop: int) -> bytes:
        from botocore.exceptions import ClientError

        if stop <= start:
            return b""
        try:
            answer = self._client.get_object(
                Bucket=self.bucket,
                Key=self.key,
                Range=f"bytes={start}-{stop - 1}",
                IfMatch=f'"{self.etag}"',
            )
        except ClientError as error:
            if _code(error) in ("PreconditionFailed", "412", *NOT_FOUND):
                raise OSError(f"s3://{self.bucket}/{self.key} changed while it was read") from None
            raise
        data = answer["Body"].read()
        if len(data) != stop - start:
            raise OSError(f"s3://{self.bucket}/{self.key}: short read at byte {start}")
        return data


class _Parts(io.RawIOBase):
    """Buffers read one after the other as one stream, without joining them."""

    def __init__(self, parts: Sequence[memoryview]) -> None:
        super().__init__()
        self._parts = [memoryview(part).cast("B") for part in parts if len(part)]
        self._at = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer) -> int:
        target = memoryview(buffer).cast("B")
        done = 0
        while self._parts and done < len(target):
            part = self._parts[0]
            n = min(len(part) - self._at, len(target) - done)
            target[done : done + n] = part[self._at : self._at + n]
            done += n
            self._at += n
            if self._at == len(part):
                self._parts.pop(0)
                self._at = 0
        return done


class S3Objects(S3ObjectStore):
    """A bucket as the distributed export's steps use it, besides the object store's uses."""

    def put(self, key: str, data: bytes, *, create_only: bool = False) -> None:
        from botocore.exceptions import ClientError

        extra: dict[str, Any] = {"IfNoneMatch": "*"} if create_only else {}
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type(key),
                CacheControl=EXPORT_CACHE_CONTROL,
                **extra,
            )
        except ClientError as error:
            if not create_only or _code(error) not in ("PreconditionFailed", "412"):
                raise
            stored = self._client.head_object(Bucket=self.bucket, Key=key)["ETag"].strip('"')
            if stored != hashlib.md5(data, usedforsecurity=False).hexdigest():
                raise FileExistsError(f"s3://{self.bucket}/{key} exists with other bytes") from None

    def put_parts(self, key: str, parts: Sequence[memoryview]) -> None:
        self._client.upload_fileobj(
            cast(BinaryIO, _Parts(parts)),
            self.bucket,
            key,
            ExtraArgs={"ContentType": "application/octet-stream"},
            Config=transfer_config(),
        )

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if _code(error) in NOT_FOUND:
                raise FileNotFoundError(f"no object s3://{self.bucket}/{key}") from None
            raise

    def get_range(self, key: str, start: int, stop: int) -> bytes:
        if stop <= start:
            return b""
        answer = self._client.get_object(
            Bucket=self.bucket, Key=key, Range=f"bytes={start}-{stop - 1}"
        )
        return answer["Body"].read()

    def sizes(self, prefix: str) -> dict[str, int]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        return {item["Key"]: item["Size"] for page in pages for item in page.get("Contents", [])}

    def head(self, key: str, etag: str | None = None) -> StoredUpload:
        from botocore.exceptions import ClientError

        pinned: dict[str, Any] = {"IfMatch": f'"{etag}"'} if etag else {}
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=key, **pinned)
        except ClientError as error:
            if _code(error) in (*NOT_FOUND, "PreconditionFailed", "412"):
                raise FileNotFoundError(f"no object s3://{self.bucket}/{key} at {etag}") from None
            raise
        return StoredUpload(head["ETag"].strip('"'), head["ContentLength"], head["LastModified"])

    def ranges(self, key: str, etag: str) -> S3Ranges:
        return S3Ranges(self._client, self.bucket, key, etag, self.head(key, etag).size)
