"""Adapters of the catalog repository port, each built fresh for one contract test."""

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
from cellucid_cloud.catalog.repository import CatalogRepository
from cellucid_cloud.catalog.sqlite_repository import SqliteCatalogRepository

ADAPTERS = ["sqlite", "dynamodb"]


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
