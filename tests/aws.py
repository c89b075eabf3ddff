"""A moto server on 127.0.0.1 that the AWS adapters reach over real HTTP, with fake credentials
so that boto3 can never touch real AWS."""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.server import ThreadedMotoServer

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

REGION = "us-east-1"

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
UNSET_AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL")


@contextmanager
def fake_aws_env() -> Iterator[None]:
    """Fake credentials and region in the environment, no profile or endpoint override."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS_ENV.items():
            patch.setenv(name, value)
        for name in UNSET_AWS_ENV:
            patch.delenv(name, raising=False)
        yield


def one_at_a_time(call_action: Callable[[DynamoHandler], Any]) -> Callable[[DynamoHandler], Any]:
    """Work around a moto bug (5.2.5): ``transact_write_items`` deep-copies each table it
    touches and restores the copy when a condition fails, without a lock. Concurrent requests
    on the threaded server then fail with HTTP 500 ("dictionary changed size during
    iteration"), or a cancelled transaction's restore erases another one's committed writes,
    so two racing commits can both "win". DynamoDB isolates transactions; running moto's
    DynamoDB requests one at a time restores that."""
    lock = threading.Lock()

    def locked(handler: DynamoHandler) -> Any:
        with lock:
            return call_action(handler)

    return locked


class _OneCopyPerTable:
    """``copy`` for moto's DynamoDB backend during one transaction: each table deep-copied
    once, every other object as ``copy.deepcopy`` does."""

    def __init__(self) -> None:
        self._tables: dict[int, Table] = {}

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if not isinstance(value, Table):
            return copy.deepcopy(value, memo)
        if id(value) not in self._tables:
            self._tables[id(value)] = copy.deepcopy(value, memo)
        return self._tables[id(value)]


def one_copy_per_transaction(
    transact: Callable[[DynamoDBBackend, list[dict[str, Any]]], None],
) -> Callable[[DynamoDBBackend, list[dict[str, Any]]], None]:
    """Work around a moto inefficiency (5.x): ``transact_write_items`` deep-copies a table,
    its rollback copy, once for every item of the transaction (the same copy each time), so a
    100-item commit on a 1,000-item table copies 100,000 items: ~10 s here, and a 500-dataset
    publish took many minutes. One copy per table and transaction is the same rollback.
    Requests run one at a time (:func:`one_at_a_time`), so swapping the module's ``copy``
    for the call is safe."""

    def once(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(dynamodb_models, "copy", _OneCopyPerTable())
            transact(backend, transact_items)

    return once


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free port of 127.0.0.1; yields its endpoint URL."""
    with fake_aws_env(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(DynamoHandler, "call_action", one_at_a_time(DynamoHandler.call_action))
        transact = one_copy_per_transaction(DynamoDBBackend.transact_write_items)
        patch.setattr(DynamoDBBackend, "transact_write_items", transact)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def empty_bucket(client: S3Client, bucket: str) -> None:
    """Delete every object of a bucket (S3 deletes only empty buckets)."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys: list[Any] = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
