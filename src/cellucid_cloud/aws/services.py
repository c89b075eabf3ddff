"""The AWS composition root: the ports every function builds from its settings (the catalog
and events on DynamoDB, the buckets on S3), with boto3 clients made on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from cellucid_cloud.aws.config import SiteSettings, StoreSettings
from cellucid_cloud.catalog.dynamodb_repository import DynamoDbCatalogRepository, dynamodb_client
from cellucid_cloud.core.ports import Ports
from cellucid_cloud.core.services import Site
from cellucid_cloud.storage.s3 import (
    S3Downloads,
    S3MultipartUploads,
    S3ObjectStore,
    S3UploadUrls,
    s3_client,
)

__all__ = ["aws_ports", "on_first_use", "site"]


class _OnFirstUse:
    """Stands in for a client until something of it is used, then makes it (once)."""

    def __init__(self, make: Callable[[], object]) -> None:
        self._make = make
        self._client: object | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make()
        return getattr(self._client, name)


def on_first_use[C](make: Callable[[], C]) -> C:
    """A boto3 client that is made when first used: creating one loads botocore's service
    model (~70 ms of CPU for DynamoDB), which a cold start need not pay before its first
    request, and which must not happen before a SnapStart snapshot (credentials)."""
    return cast(C, _OnFirstUse(make))


def aws_ports(settings: StoreSettings, *, sessions_bucket: str | None = None) -> Ports:
    """The AWS composition root: the catalog and the events in the DynamoDB table, the
    buckets in S3, clients made on first use. With ``sessions_bucket``, the session parts too
    (the events and sessions functions; the others start without the events' modules)."""
    dynamodb = on_first_use(dynamodb_client)
    s3 = on_first_use(s3_client)
    ports = Ports(
        catalog=DynamoDbCatalogRepository(settings.catalog_table, dynamodb),
        uploads=S3ObjectStore(settings.uploads_bucket, s3),
        exports=S3ObjectStore(settings.exports_bucket, s3),
        upload_urls=S3UploadUrls(settings.uploads_bucket, s3),
        multipart=S3MultipartUploads(settings.uploads_bucket, s3),
        downloads=S3Downloads(settings.uploads_bucket, s3),
    )
    if sessions_bucket is None:
        return ports
    from cellucid_cloud.events.dynamodb_store import DynamoDbEventStore
    from cellucid_cloud.storage.s3_blobs import S3BlobStore

    return replace(
        ports,
        events=DynamoDbEventStore(settings.catalog_table, dynamodb),
        sessions=S3BlobStore(sessions_bucket, s3),
        session_upload_urls=S3UploadUrls(sessions_bucket, s3),
    )


def site(settings: SiteSettings) -> Site:
    return Site(str(settings.public_base_url), meta_ttl=settings.meta_ttl)
