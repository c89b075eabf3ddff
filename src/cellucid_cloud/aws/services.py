"""What the functions build from their settings: the catalog on DynamoDB, meta lookups."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from cellucid_cloud.aws.config import SiteSettings, StoreSettings
from cellucid_cloud.catalog.dynamodb_repository import DynamoDbCatalogRepository, dynamodb_client
from cellucid_cloud.catalog.meta import MetaService
from cellucid_cloud.catalog.repository import CatalogRepository
from cellucid_cloud.storage.s3 import S3ObjectStore

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

__all__ = ["catalog_repository", "meta_service"]


def catalog_repository(settings: StoreSettings) -> DynamoDbCatalogRepository:
    return DynamoDbCatalogRepository(settings.catalog_table, dynamodb_client())


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
