"""What every function builds from its settings: the catalog on DynamoDB."""

from __future__ import annotations

from cellucid_cloud.aws.config import StoreSettings
from cellucid_cloud.catalog.dynamodb_repository import DynamoDbCatalogRepository, dynamodb_client

__all__ = ["catalog_repository"]


def catalog_repository(settings: StoreSettings) -> DynamoDbCatalogRepository:
    return DynamoDbCatalogRepository(settings.catalog_table, dynamodb_client())
