"""Handing out an uploaded original (the port is
:class:`~cellucid_cloud.core.ports.OriginalDownloads`; its filesystem and S3 adapters are
:class:`~cellucid_cloud.storage.filesystem.FilesystemDownloads` and
:class:`~cellucid_cloud.storage.s3.S3Downloads`).

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

from dataclasses import dataclass
from typing import BinaryIO

__all__ = [
    "MAX_DOWNLOAD_URL_SECONDS",
    "OpenFile",
    "Redirect",
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


def attachment(file_name: str) -> str:
    """A ``Content-Disposition`` value (the name is already portable: ``download_file_name``)."""
    return f'attachment; filename="{file_name}"'
