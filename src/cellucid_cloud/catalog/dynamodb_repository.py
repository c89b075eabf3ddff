"""DynamoDB adapter of the catalog repository: the AWS catalog, one table.

Each record is one item ``pk = "<KIND>#<key>", sk = "_"`` holding the record's JSON document
(``doc``, without the revision) and its revision (``rev``, a number). Collections also carry
``owner`` and, while published, ``published``: the keys of two sparse global secondary indexes
that serve the collection listings without a Scan. ``docs/catalog.md`` describes the access
patterns; the key schema lives in the constants below so the SAM template can be checked
against it.

A commit is one ``TransactWriteItems``: every write is conditional on the revision read, and
DynamoDB applies all of them or none. botocore fills in the transaction's
``ClientRequestToken``, so a retried call cannot apply twice and then fail its own condition.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, cast

from cellucid_cloud.aws_calls import aws_client, unavailable_on_aws_errors, until_processed
from cellucid_cloud.catalog.models import Collection, StoredRecord
from cellucid_cloud.catalog.repository import ConflictError, Delete, Put, Write, check_writes

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeDefinitionTypeDef,
        AttributeValueTypeDef,
        GlobalSecondaryIndexTypeDef,
        KeySchemaElementTypeDef,
        PutTypeDef,
        TransactWriteItemTypeDef,
    )

__all__ = [
    "ATTRIBUTE_DEFINITIONS",
    "GLOBAL_SECONDARY_INDEXES",
    "KEY_SCHEMA",
    "OWNER_INDEX",
    "PUBLISHED_INDEX",
    "DynamoDbCatalogRepository",
    "dynamodb_client",
    "ensure_table",
    "stored_item",
]

type Item = dict[str, AttributeValueTypeDef]

_unavailable = unavailable_on_aws_errors("the catalog")

SORT_KEY_VALUE = "_"
"""Every record is alone in its partition; the sort key leaves room for item collections,
which a table's key schema cannot gain after creation."""
PUBLISHED_VALUE = "1"
OWNER_INDEX = "owner"
PUBLISHED_INDEX = "published"

KEY_SCHEMA: list[KeySchemaElementTypeDef] = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
ATTRIBUTE_DEFINITIONS: list[AttributeDefinitionTypeDef] = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "S"},
    {"AttributeName": "owner", "AttributeType": "S"},
    {"AttributeName": "published", "AttributeType": "S"},
]
GLOBAL_SECONDARY_INDEXES: list[GlobalSecondaryIndexTypeDef] = [
    {
        "IndexName": OWNER_INDEX,
        "KeySchema": [
            {"AttributeName": "owner", "KeyType": "HASH"},
            {"AttributeName": "pk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["doc", "rev"]},
    },
    {
        "IndexName": PUBLISHED_INDEX,
        "KeySchema": [
            {"AttributeName": "published", "KeyType": "HASH"},
            {"AttributeName": "pk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["doc", "rev"]},
    },
]
"""Both sort by ``pk``: within one kind that is the order of the record keys."""

BATCH_GET_LIMIT = 100


def dynamodb_client(endpoint_url: str | None = None, region: str | None = None) -> DynamoDBClient:
    return cast("DynamoDBClient", aws_client("dynamodb", endpoint_url=endpoint_url, region=region))


def ensure_table(client: DynamoDBClient, table_name: str) -> None:
    """Create the catalog table (on-demand billing) unless it exists; wait until it does."""
    with contextlib.suppress(client.exceptions.ResourceInUseException):
        client.create_table(
            TableName=table_name,
            KeySchema=KEY_SCHEMA,
            AttributeDefinitions=ATTRIBUTE_DEFINITIONS,
            GlobalSecondaryIndexes=GLOBAL_SECONDARY_INDEXES,
            BillingMode="PAY_PER_REQUEST",
        )
    client.get_waiter("table_exists").wait(TableName=table_name)


class DynamoDbCatalogRepository:
    """Thread-safe as its boto3 client is. The listings read global secondary indexes, which
    DynamoDB updates asynchronously: a change shows there within about a second."""

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self.table_name = table_name
        self._client = client

    @_unavailable
    def get[R: StoredRecord](self, kind: type[R], key: str) -> R | None:
        response = self._client.get_item(
            TableName=self.table_name, Key=_key(kind.KIND, key), ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else _load(kind, item)

    @_unavailable
    def get_many[R: StoredRecord](self, kind: type[R], keys: Iterable[str]) -> dict[str, R]:
        wanted = list(dict.fromkeys(keys))  # BatchGetItem refuses a key twice
        found: dict[str, R] = {}
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            chunk = [_key(kind.KIND, key) for key in wanted[start : start + BATCH_GET_LIMIT]]
            for item in self._batch_get(chunk):
                record = _load(kind, item)
                found[record.key] = record
        return found

    def _batch_get(self, keys: list[Item]) -> list[Item]:
        """Read up to 100 keys, asking again for the keys DynamoDB left unprocessed, as it
        does when throttled or past 16 MB."""
        items: list[Item] = []

        def send(pending: list[Item]) -> list[Item]:
            response = self._client.batch_get_item(
                RequestItems={self.table_name: {"Keys": pending, "ConsistentRead": True}}
            )
            items.extend(response["Responses"].get(self.table_name, []))
            unprocessed = response.get("UnprocessedKeys", {}).get(self.table_name)
            return unprocessed["Keys"] if unprocessed else []

        until_processed(send, keys, store="the catalog")
        return items

    @_unavailable
    def collections_of(self, owner: str) -> list[Collection]:
        return self._query_collections(OWNER_INDEX, "owner", owner)

    @_unavailable
    def published_collections(self) -> list[Collection]:
        return self._query_collections(PUBLISHED_INDEX, "published", PUBLISHED_VALUE)

    def _query_collections(self, index: str, attribute: str, value: str) -> list[Collection]:
        pages = self._client.get_paginator("query").paginate(
            TableName=self.table_name,
            IndexName=index,
            KeyConditionExpression="#k = :v",
            ExpressionAttributeNames={"#k": attribute},
            ExpressionAttributeValues={":v": {"S": value}},
        )
        return [_load(Collection, item) for page in pages for item in page.get("Items", [])]

    @_unavailable
    def commit(self, writes: Sequence[Write]) -> None:
        check_writes(writes)
        if not writes:
            return
        try:
            self._client.transact_write_items(
                TransactItems=[self._transact_item(write) for write in writes]
            )
        except self._client.exceptions.TransactionCanceledException as error:
            reasons = error.response.get("CancellationReasons", [])
            for write, reason in zip(writes, reasons, strict=False):
                conflict = _conflict(write, reason.get("Code"))
                if conflict:
                    raise ConflictError(conflict) from error
            raise

    def _transact_item(self, write: Write) -> TransactWriteItemTypeDef:
        record = write.record
        expected_rev: dict[str, AttributeValueTypeDef] = {":rev": {"N": str(record.rev)}}
        if isinstance(write, Delete):
            return {
                "Delete": {
                    "TableName": self.table_name,
                    "Key": _key(record.KIND, record.key),
                    "ConditionExpression": "rev = :rev",
                    "ExpressionAttributeValues": expected_rev,
                }
            }
        put: PutTypeDef = {
            "TableName": self.table_name,
            "Item": stored_item(record),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if not write.create:
            put["ConditionExpression"] = "rev = :rev"
            put["ExpressionAttributeValues"] = expected_rev
        return {"Put": put}


def _conflict(write: Write, code: str | None) -> str | None:
    """Why ``write`` was cancelled, if the caller should re-read and try again."""
    record = write.record
    if code == "ConditionalCheckFailed":
        if isinstance(write, Put) and write.create:
            return f"{record.KIND} {record.key} already exists"
        return f"{record.KIND} {record.key} changed since it was read, or is gone"
    if code == "TransactionConflict":
        return f"{record.KIND} {record.key} is being written by a concurrent transaction"
    return None


def _key(kind: str, key: str) -> Item:
    return {"pk": {"S": f"{kind}#{key}"}, "sk": {"S": SORT_KEY_VALUE}}


def stored_item(record: StoredRecord) -> Item:
    """The item ``record`` is stored as at its next revision (what a commit writes, and what a
    bulk load with ``BatchWriteItem`` writes)."""
    item = _key(record.KIND, record.key)
    item["rev"] = {"N": str(record.rev + 1)}
    item["doc"] = {"S": record.model_dump_json(exclude={"rev"})}
    if isinstance(record, Collection):
        item["owner"] = {"S": record.owner}
        if record.is_published:
            item["published"] = {"S": PUBLISHED_VALUE}
    return item


def _load[R: StoredRecord](kind: type[R], item: Item) -> R:
    return kind.model_validate_json(item["doc"]["S"]).model_copy(
        update={"rev": int(item["rev"]["N"])}
    )
