"""S3 adapter of the small-blob port (session bundles in the sessions bucket).

Bundles posted to the events function are validated before they are stored; bundles PUT
through an upload URL land in the same bucket and are validated after, by the sessions
function, which the bucket notifies of every new object. The objects this adapter writes carry
a mark, so that function can tell the two apart and leave the posted ones alone.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, BinaryIO, cast

from cellucid_cloud.storage.s3 import NOT_FOUND, presigned_download

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

__all__ = ["S3BlobStore"]

MARK = ("stored-by", "cellucid-events")
"""Object metadata (``x-amz-meta-stored-by``) of bundles that were validated before storing."""


class S3BlobStore:
    def __init__(self, bucket: str, client: S3Client) -> None:
        self.bucket = bucket
        self.client = client

    def put(self, key: str, data: bytes | BinaryIO) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType="application/octet-stream",
            CacheControl="private, no-store",
            Metadata=dict([MARK]),
        )

    def get(self, key: str) -> bytes:
        with contextlib.closing(self.open(key)) as body:
            return body.read()

    def open(self, key: str) -> BinaryIO:
        """The object's body, streamed from S3 as it is read."""
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NOT_FOUND:
                raise FileNotFoundError(f"no object s3://{self.bucket}/{key}") from None
            raise
        return cast(BinaryIO, body)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def download_url(self, key: str, file_name: str, expires_in: int) -> str:
        """A presigned GET of this one key, as an attachment named ``file_name``: a bundle of
        any size is fetched from S3, never through a Lambda response (6 MB at most)."""
        return presigned_download(self.client, self.bucket, key, file_name, expires_in)

    def stored_here(self, key: str) -> bool | None:
        """Whether :meth:`put` wrote the object (None: it is gone). An upload URL signs no
        metadata, and an uploader who sent the mark anyway would only keep their own bundle
        from being recorded."""
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NOT_FOUND:
                return None
            raise
        return head.get("Metadata", {}).get(MARK[0]) == MARK[1]
