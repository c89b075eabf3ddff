"""Adapters of each port (catalog repository, object store), each built fresh for one
contract test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cellucid_cloud.catalog.dynamodb_repository import (
    DynamoDbCatalogRepository,
    dynamodb_client,
    ensure_table,
)
from cellucid_cloud.catalog.sqlite_repository import SqliteCatalogRepository
from cellucid_cloud.core.ports import CatalogRepository, ObjectStore
from cellucid_cloud.storage.filesystem import FilesystemObjectStore
from cellucid_cloud.storage.s3 import S3ObjectStore, s3_client
from tests.aws import empty_bucket

ADAPTERS = ["sqlite", "dynamodb"]
STORES = ["filesystem", "s3"]


@pytest.fixture(params=ADAPTERS)
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CatalogRepository]:
    if request.param == "sqlite":
        repo = SqliteCatalogRepository(tmp_path / "catalog.sqlite3")
        yield repo
        repo.close()
    elif request.param == "dynamodb":
        client = dynamodb_client(endpoint_url=request.getfixturevalue("moto_server"))
        table = f"catalog-{uuid.uuid4().hex}"
        ensure_table(client, table)
        yield DynamoDbCatalogRepository(table, client)
        client.delete_table(TableName=table)


@pytest.fixture(params=STORES)
def object_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "filesystem":
        yield FilesystemObjectStore(tmp_path / "bucket")
    elif request.param == "s3":
        client = s3_client(endpoint_url=request.getfixturevalue("moto_server"))
        bucket = f"store-{uuid.uuid4().hex}"
        client.create_bucket(Bucket=bucket)
        yield S3ObjectStore(bucket, client)
        empty_bucket(client, bucket)
        client.delete_bucket(Bucket=bucket)
