"""What the functions build from their settings: the catalog on DynamoDB, meta lookups, and
boto3 clients made on first use."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from cellucid_cloud.aws.config import SiteSettings, StoreSettings
from cellucid_cloud.catalog.dynamodb_repository import DynamoDbCatalogRepository, dynamodb_client
from cellucid_cloud.catalog.meta import MetaService
from cellucid_cloud.core.ports import CatalogRepository
from cellucid_cloud.storage.s3 import S3ObjectStore

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

__all__ = ["catalog_repository", "meta_service", "on_first_use"]


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


def catalog_repository(settings: StoreSettings) -> DynamoDbCatalogRepository:
    return DynamoDbCatalogRepository(settings.catalog_table, on_first_use(dynamodb_client))


def meta_service(
    settings: SiteSettings, repository: CatalogRepository, s3: S3Client
) -> MetaService:
    """Meta lookups over the catalog and the exports bucket, cached for ``META_TTL`` seconds."""
    return MetaService(
        repository,
        S3ObjectStore(settings.exports_bucket, s3),
        str(settings.public_base_url),
        ttl=settings.meta_ttl,
        clock=time.monotonic,
    )
