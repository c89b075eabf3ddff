"""Handing out an uploaded original: the port, and its filesystem and S3 adapters.

An upload's key can be written again (a curator's direct upload to the same key, refused or
not), so a download is given only while the object is still the exact file the dataset version
was made from: its ETag (MD5 of the bytes, as S3 computes it for a single-part upload) must
still equal the one recorded when the version was processed.

* Filesystem (``up``): the file is opened first and checked through that open handle, so a
  replacement after the check cannot be served. The MD5 of a file is remembered by device,
  inode, size and modification time, so only the first download of a file reads it twice.
* S3: ``HeadObject`` compares the ETag, then a presigned ``GetObject`` URL (one key, at most
  15 minutes, ``Content-Disposition: attachment``) is the answer. A replacement between the
  check and the browser's GET is not excluded by S3 (a presigned URL cannot pin an ETag for a
  browser); the short expiry bounds it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Protocol

from cachetools import LRUCache

from cellucid_cloud.storage.s3 import NOT_FOUND

if TYPE_CHECKING:  # the API function must not import the export stack the filesystem store uses
    from mypy_boto3_s3.client import S3Client

    from cellucid_cloud.storage.filesystem import FilesystemObjectStore

__all__ = [
    "MAX_DOWNLOAD_URL_SECONDS",
    "FilesystemDownloads",
    "OpenFile",
    "OriginalDownloads",
    "Redirect",
    "S3Downloads",
    "attachment",
]

MAX_DOWNLOAD_URL_SECONDS = 900


@dataclass(frozen=True, slots=True)
class OpenFile:
    """The original, open for reading (the caller closes it), and its size in bytes."""

    file: BinaryIO
    size: int


@dataclass(frozen=True, slots=True)
class Redirect:
    """A short-lived URL that serves the original."""

    url: str
    expires_in: int


class OriginalDownloads(Protocol):
    def locate(self, key: str, etag: str, file_name: str) -> OpenFile | Redirect | None:
        """The original under ``key`` if it still has ``etag``; None when it is gone or was
        replaced."""
        ...


def attachment(file_name: str) -> str:
    """A ``Content-Disposition`` value (the name is already portable: ``download_file_name``)."""
    return f'attachment; filename="{file_name}"'


class FilesystemDownloads:
    def __init__(self, store: FilesystemObjectStore, max_remembered: int = 1024) -> None:
        self.store = store
        self._digests: LRUCache[tuple[int, int, int, int], str] = LRUCache(max_remembered)
        self._lock = threading.Lock()

    def locate(self, key: str, etag: str, file_name: str) -> OpenFile | Redirect | None:
        del file_name  # the route names the file
        try:
            handle = self.store.path(key).open("rb")
        except (OSError, ValueError):
            return None
        try:
            stat = os.fstat(handle.fileno())
            identity = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
            with self._lock:
                digest = self._digests.get(identity)
            if digest is None:
                digest = _md5(handle)
                handle.seek(0)
                with self._lock:
                    self._digests[identity] = digest
            if digest != etag:
                handle.close()
                return None
            return OpenFile(handle, stat.st_size)
        except BaseException:
            handle.close()
            raise


def _md5(handle: BinaryIO) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


class S3Downloads:
    def __init__(
        self, bucket: str, client: S3Client, expires_in: int = MAX_DOWNLOAD_URL_SECONDS
    ) -> None:
        if not 0 < expires_in <= MAX_DOWNLOAD_URL_SECONDS:
            raise ValueError(f"download URLs live at most {MAX_DOWNLOAD_URL_SECONDS} seconds")
        self.bucket = bucket
        self._client = client
        self.expires_in = expires_in

    def locate(self, key: str, etag: str, file_name: str) -> OpenFile | Redirect | None:
        from botocore.exceptions import ClientError

        try:
            head = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NOT_FOUND:
                return None
            raise
        if str(head.get("ETag", "")).strip('"') != etag:
            return None
        url = self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": attachment(file_name),
                "ResponseContentType": "application/octet-stream",
            },
            ExpiresIn=self.expires_in,
        )
        return Redirect(url, self.expires_in)
