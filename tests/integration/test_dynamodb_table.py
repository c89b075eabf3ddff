"""The catalog table as created on a moto server: the declared keys, indexes and billing."""

from __future__ import annotations

import uuid

from cellucid_cloud.catalog.dynamodb_repository import (
    GLOBAL_SECONDARY_INDEXES,
    KEY_SCHEMA,
    dynamodb_client,
    ensure_table,
)


def test_ensure_table_creates_the_declared_table_once(moto_server: str) -> None:
    client = dynamodb_client(endpoint_url=moto_server)
    name = f"catalog-{uuid.uuid4().hex}"
    ensure_table(client, name)
    ensure_table(client, name)
    table = client.describe_table(TableName=name)["Table"]
    client.delete_table(TableName=name)
    assert table["KeySchema"] == KEY_SCHEMA
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    for declared in GLOBAL_SECONDARY_INDEXES:
        index = indexes[declared["IndexName"]]
        assert index["KeySchema"] == declared["KeySchema"]
        assert index["Projection"] == declared["Projection"]
