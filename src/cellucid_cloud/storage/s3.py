"""S3 adapters: the object store behind the uploads and exports buckets, presigned uploads, and
originals handed out by presigned GET.

An export is thousands of small files (one per gene), so a folder goes up through one
s3transfer manager: a shared thread pool over one thread-safe client, multipart only for the
rare large file. Every export object carries its Content-Type and the immutable Cache-Control,
which CloudFront and browsers honour. Keys are names here, not paths: nothing resolves
``..`` in them, so unlike the filesystem adapter this one takes any key it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from cellucid_cloud.aws_calls import aws_client
from cellucid_cloud.storage.downloads import (
    MAX_DOWNLOAD_URL_SECONDS,
    OpenFile,
    Redirect,
    attachment,
)
from cellucid_cloud.storage.multipart import (
    MultipartError,
    Part,
    PartPlan,
    PartUrl,
    UnknownMultipartError,
)
from cellucid_cloud.storage.object_store import EXPORT_CACHE_CONTROL, content_type
from cellucid_cloud.storage.upload_urls import MAX_UPLOAD_EXPIRY, UploadUrl, UploadUrlError

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, ObjectIdentifierTypeDef

__all__ = [
    "UPLOAD_CONTENT_TYPE",
    "S3Downloads",
    "S3MultipartUploads",
    "S3ObjectStore",
    "S3UploadUrls",
    "presigned_download",
    "s3_client",
]

MiB = 1024 * 1024
TRANSFER_CONCURRENCY = 32
MULTIPART_THRESHOLD = 64 * MiB
MULTIPART_CHUNK = 16 * MiB
UPLOAD_CONTENT_TYPE = "application/octet-stream"
MAX_SINGLE_PUT = 5 * 1024**3
"""S3 takes at most 5 GiB in one PUT, which is what a presigned URL allows."""
NOT_FOUND = ("404", "NoSuchKey", "NotFound")
PART_REFUSALS = {
    "InvalidPart": "a part was not received, or its ETag does not match what S3 stored",
    "InvalidPartOrder": "parts must be listed in ascending order",
    "EntityTooSmall": "a part other than the last is smaller than 5 MiB",
}
"""S3's refusals of a completion that are the curator's to fix, and what to tell them."""


def s3_client(endpoint_url: str | None = None, region: str | None = None) -> S3Client:
    """A client with SigV4 signing (presigned URLs need it), "standard" retries, and enough
    pooled connections for the transfer threads. Virtual-hosted addressing makes presigned
    URLs name the bucket's regional endpoint (the global one redirects young buckets, which
    breaks a signed PUT); botocore falls back to path style for an IP endpoint such as moto's.
    """
    return cast(
        "S3Client",
        aws_client(
            "s3",
            endpoint_url=endpoint_url,
            region=region,
            signature_version="s3v4",
            s3={"addressing_style": "virtual"},
            max_pool_connections=TRANSFER_CONCURRENCY,
        ),
    )


def transfer_config() -> TransferConfig:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=MULTIPART_THRESHOLD,
        multipart_chunksize=MULTIPART_CHUNK,
        max_concurrency=TRANSFER_CONCURRENCY,
    )


class S3ObjectStore:
    def __init__(self, bucket: str, client: S3Client) -> None:
        self.bucket = bucket
        self._client = client

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put_folder(self, prefix: str, folder: Path) -> int:
        """Upload every file of ``folder`` under ``prefix``. Not atomic, unlike the folder
        rename: a failure can leave part of the prefix behind, which nothing points to (the
        catalog records the prefix only after this returns, and a new upload gets a new one).
        """
        from boto3.s3.transfer import create_transfer_manager

        prefix = prefix.rstrip("/") + "/"
        if self._has_objects(prefix):
            raise FileExistsError(f"{prefix} already exists; exports are never overwritten")
        files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
        with create_transfer_manager(self._client, transfer_config()) as manager:
            futures = [
                manager.upload(
                    str(path),
                    self.bucket,
                    prefix + path.relative_to(folder).as_posix(),
                    extra_args={
                        "ContentType": content_type(path.name),
                        "CacheControl": EXPORT_CACHE_CONTROL,
                    },
                )
                for path in files
            ]
            for future in futures:
                future.result()
        return sum(path.stat().st_size for path in files)

    def upload(self, key: str, path: Path) -> None:
        """Store one local file (a downloaded dataset), in parallel parts when large."""
        from boto3.s3.transfer import create_transfer_manager

        with create_transfer_manager(self._client, transfer_config()) as manager:
            manager.upload(
                str(path), self.bucket, key, extra_args={"ContentType": UPLOAD_CONTENT_TYPE}
            ).result()

    def fetch(self, key: str, destination: Path) -> str:
        """Download an object (ranged parts in parallel when large). s3transfer pins every part
        to the ETag it read first, so the bytes and the returned ETag belong together even if
        the object is replaced meanwhile."""
        from boto3.s3.transfer import create_transfer_manager
        from botocore.exceptions import ClientError

        try:
            with create_transfer_manager(self._client, transfer_config()) as manager:
                future = manager.download(self.bucket, key, str(destination))
                future.result()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NOT_FOUND:
                raise FileNotFoundError(f"no object s3://{self.bucket}/{key}") from None
            raise
        etag = future.meta.etag
        if not etag:
            raise RuntimeError(f"S3 returned no ETag for s3://{self.bucket}/{key}")
        return str(etag).strip('"')

    def exists(self, key: str) -> bool:
        """Whether an object exists, or (for a key ending in ``/``) any object under it."""
        from botocore.exceptions import ClientError

        if key.endswith("/"):
            return self._has_objects(key)
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NOT_FOUND:
                return False
            raise
        return True

    def delete_prefix(self, prefix: str) -> None:
        prefix = prefix.rstrip("/") + "/"
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        for page in pages:  # at most 1,000 keys a page, as DeleteObjects takes
            keys: list[ObjectIdentifierTypeDef] = [
                {"Key": item["Key"]} for item in page.get("Contents", [])
            ]
            if keys:
                self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                )

    def _has_objects(self, prefix: str) -> bool:
        listing = self._client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        return listing.get("KeyCount", 0) > 0


def _upload_expiry(expires_in: int) -> int:
    """Seconds an upload URL lives: as asked, 1 at least and 15 minutes at most."""
    return max(1, min(expires_in, MAX_UPLOAD_EXPIRY))


def _presigned_put(client: S3Client, operation: str, expires_in: int, **params: object) -> str:
    """A URL for one PUT through ``operation`` with ``params`` signed: with ``ContentLength``
    among them, S3 refuses a body of any other length (or a chunked one)."""
    return client.generate_presigned_url(
        operation, Params=params, ExpiresIn=expires_in, HttpMethod="PUT"
    )


class S3UploadUrls:
    """Presigned PUT URLs into the uploads bucket.

    A presigned PUT cannot carry a POST policy's ``content-length-range``, so the URL signs
    the exact ``Content-Length`` the curator declared: S3 refuses a body of any other length
    (and a chunked one), which caps the size. The URL also signs the one key, the content
    type and an expiry of at most 15 minutes.
    """

    def __init__(self, bucket: str, client: S3Client) -> None:
        self.bucket = bucket
        self._client = client

    def upload_url(
        self, key: str, *, max_bytes: int, expires_in: int, size: int | None = None
    ) -> UploadUrl:
        if size is None:
            raise UploadUrlError(
                'declare the file\'s size in bytes ("size") to get an upload URL: '
                "S3 upload URLs are signed for one exact length"
            )
        limit = min(max_bytes, MAX_SINGLE_PUT)
        if size > limit:
            raise UploadUrlError(f"file too large: {size} bytes; the limit is {limit}")
        expires_in = _upload_expiry(expires_in)
        url = _presigned_put(
            self._client,
            "put_object",
            expires_in,
            Bucket=self.bucket,
            Key=key,
            ContentLength=size,
            ContentType=UPLOAD_CONTENT_TYPE,
        )
        return UploadUrl(
            url=url,
            headers={"Content-Type": UPLOAD_CONTENT_TYPE},
            expires_in=expires_in,
            max_bytes=size,
        )


class S3MultipartUploads:
    """S3 multipart uploads into the uploads bucket. Each part URL signs the one key, the
    upload id, the part number, that part's exact ``Content-Length`` (which caps it, as for a
    single PUT) and an expiry of at most 15 minutes. The object, and its event, appear only
    when the API completes the upload; the bucket's lifecycle rule drops abandoned parts."""

    def __init__(self, bucket: str, client: S3Client) -> None:
        self.bucket = bucket
        self._client = client

    def start_multipart(self, key: str, plan: PartPlan) -> str:
        answer = self._client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=UPLOAD_CONTENT_TYPE
        )
        return answer["UploadId"]

    def part_urls(
        self, key: str, multipart_id: str, parts: Sequence[Part], *, expires_in: int
    ) -> list[PartUrl]:
        expires_in = _upload_expiry(expires_in)
        urls = []
        for part in parts:
            url = _presigned_put(
                self._client,
                "upload_part",
                expires_in,
                Bucket=self.bucket,
                Key=key,
                UploadId=multipart_id,
                PartNumber=part.number,
                ContentLength=part.length,
            )
            urls.append(PartUrl(part.number, url, part.length))
        return urls

    def complete_multipart(
        self, key: str, multipart_id: str, plan: PartPlan, etags: Mapping[int, str]
    ) -> None:
        from botocore.exceptions import ClientError

        plan.check_complete(etags)
        parts: list[CompletedPartTypeDef] = [
            {"PartNumber": n, "ETag": f'"{etags[n].strip(chr(34))}"'} for n in sorted(etags)
        ]
        try:
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=multipart_id,
                MultipartUpload={"Parts": parts},
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "NoSuchUpload":
                raise UnknownMultipartError from None
            if code not in PART_REFUSALS:
                raise
            raise MultipartError(PART_REFUSALS[code]) from None

    def abort_multipart(self, key: str, multipart_id: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=multipart_id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise
            return False
        return True


class S3Downloads:
    """Originals by presigned GET (:mod:`~cellucid_cloud.storage.downloads`)."""

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
        url = presigned_download(self._client, self.bucket, key, file_name, self.expires_in)
        return Redirect(url, self.expires_in)


def presigned_download(
    client: S3Client, bucket: str, key: str, file_name: str, expires_in: int
) -> str:
    """A presigned GET of this one key, as an attachment named ``file_name``."""
    if not 0 < expires_in <= MAX_DOWNLOAD_URL_SECONDS:
        raise ValueError(f"download URLs live at most {MAX_DOWNLOAD_URL_SECONDS} seconds")
    return client.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket,
            "Key": key,
            "ResponseContentDisposition": attachment(file_name),
            "ResponseContentType": "application/octet-stream",
        },
        ExpiresIn=expires_in,
    )
