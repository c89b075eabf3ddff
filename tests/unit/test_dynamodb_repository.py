"""What moto never does: leave BatchGetItem keys unprocessed, or cancel a transaction for a
reason other than a failed condition. Driven with botocore's Stubber (no network)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from cellucid_cloud import aws_calls
from cellucid_cloud.aws_calls import BATCH_ATTEMPTS
from cellucid_cloud.catalog.dynamodb_repository import DynamoDbCatalogRepository, dynamodb_client
from cellucid_cloud.catalog.models import Alias, DatasetVersion
from cellucid_cloud.catalog.repository import ConflictError, Put
from cellucid_cloud.core.errors import StoreUnavailableError
from tests import aws

TABLE = "catalog"


@pytest.fixture
def stubbed() -> Iterator[tuple[DynamoDbCatalogRepository, Stubber]]:
    with aws.fake_aws_env():
        client = dynamodb_client()
        with Stubber(client) as stubber:
            yield DynamoDbCatalogRepository(TABLE, client), stubber
            stubber.assert_no_pending_responses()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(aws_calls.time, "sleep", slept.append)
    return slept


def key(alias: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"alias#{alias}"}, "sk": {"S": "_"}}


def item(alias: str) -> dict[str, dict[str, str]]:
    doc = Alias(alias=alias, dataset_id="d").model_dump_json(exclude={"rev"})
    return {**key(alias), "rev": {"N": "3"}, "doc": {"S": doc}}


def batch_get(keys: list[str]) -> dict[str, object]:
    return {"RequestItems": {TABLE: {"Keys": [key(k) for k in keys], "ConsistentRead": True}}}


def test_unprocessed_keys_are_asked_for_again(
    stubbed: tuple[DynamoDbCatalogRepository, Stubber], sleeps: list[float]
) -> None:
    repo, stubber = stubbed
    stubber.add_response(
        "batch_get_item",
        {
            "Responses": {TABLE: [item("a")]},
            "UnprocessedKeys": {TABLE: {"Keys": [key("b")], "ConsistentRead": True}},
        },
        batch_get(["a", "b"]),
    )
    stubber.add_response("batch_get_item", {"Responses": {TABLE: [item("b")]}}, batch_get(["b"]))
    found = repo.get_many(Alias, ["a", "b", "a"])
    assert found == {k: Alias(alias=k, dataset_id="d", rev=3) for k in "ab"}
    assert len(sleeps) == 1


def test_keys_left_unprocessed_for_good_make_the_catalog_unavailable(
    stubbed: tuple[DynamoDbCatalogRepository, Stubber], sleeps: list[float]
) -> None:
    repo, stubber = stubbed
    for _ in range(BATCH_ATTEMPTS):
        stubber.add_response(
            "batch_get_item",
            {"Responses": {}, "UnprocessedKeys": {TABLE: {"Keys": [key("a")]}}},
            batch_get(["a"]),
        )
    with pytest.raises(StoreUnavailableError, match="unprocessed"):
        repo.get_many(Alias, ["a"])
    assert len(sleeps) == BATCH_ATTEMPTS - 1
    assert all(0 <= s <= aws_calls.BACKOFF_CAP for s in sleeps)


def cancel(stubber: Stubber, *codes: str) -> None:
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        http_status_code=400,
        modeled_fields={"CancellationReasons": [{"Code": code} for code in codes]},
    )


def version() -> DatasetVersion:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return DatasetVersion(
        version_id="v1", dataset_id="d", collection_id="c", created_at=when, updated_at=when
    )


def test_a_concurrent_transaction_is_a_conflict(
    stubbed: tuple[DynamoDbCatalogRepository, Stubber],
) -> None:
    repo, stubber = stubbed
    cancel(stubber, "None", "TransactionConflict")
    with pytest.raises(ConflictError, match="dataset_version v1 is being written"):
        repo.commit([Put(Alias(alias="x", dataset_id="d"), create=True), Put(version())])


def test_other_cancellations_are_not_conflicts(
    stubbed: tuple[DynamoDbCatalogRepository, Stubber],
) -> None:
    repo, stubber = stubbed
    cancel(stubber, "ThrottlingError")
    with pytest.raises(ClientError) as raised:
        repo.commit([Put(version())])
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
