"""The AWS deployment on a moto server, and its Lambda handlers invoked in-process.

Resources are created the way ``template.yaml`` declares them (the uploads bucket notifies
the SQS queue of ``s3:ObjectCreated:*`` for ``.h5ad`` and ``.zarr.zip`` keys; the queue
redrives to a dead-letter queue; the sessions bucket; the catalog table; Powertools'
idempotency table keyed on ``id`` with TTL on ``expiration``; the token-signing secret), each
with unique names, and the functions' environment points at them. (The sessions bucket
notifies a Lambda function directly, which moto cannot run: tests hand the sessions handler
the notification.) moto runs no Lambda code, so the handlers in
``functions/`` are imported and called with events shaped like the ones in ``events/``.
"""

from __future__ import annotations

import base64
import copy
import functools
import importlib.util
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import boto3
import pytest

from cellucid_cloud.api.auth import Authenticator, new_secret
from cellucid_cloud.aws.api import api_handler
from cellucid_cloud.aws.events import events_app
from cellucid_cloud.aws.export_steps import export_steps
from cellucid_cloud.aws.meta import meta_app
from cellucid_cloud.aws.prepare import upload_pipeline
from cellucid_cloud.aws.sessions import session_uploads
from cellucid_cloud.catalog.dynamodb_repository import (
    DynamoDbCatalogRepository,
    dynamodb_client,
    ensure_table,
)
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.storage.s3 import s3_client
from tests.aws import REGION, empty_bucket

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
PUBLIC_BASE_URL = "https://d111111abcdef8.cloudfront.net"
UPLOAD_SUFFIXES = (".h5ad", ".zarr.zip")
MAX_RECEIVE_COUNT = 3
VISIBILITY_TIMEOUT = 6 * 900

SAMPLE = {
    "collection_id": "5d1f0c2e-8a4b-4c39-9f61-2b7e3a9d0c11",
    "dataset_id": "9b2e7f40-3c1d-4e5a-8f6b-7a0c1d2e3f45",
    "upload_id": "2c4e6a8b-1d3f-4a5b-9c7d-0e1f2a3b4c5d",
    "etag": "d41d8cd98f00b204e9800998ecf8427e",
    "uploads_bucket": "cellucid-uploads-123456789012",
    "sessions_bucket": "cellucid-prod-sessions-123456789012-us-east-1",
    "viewer_id": "3f9a6c1e-5b2d-4e8f-9a7c-0d1e2f3a4b5c",
    "viewer_token": "vT0kEnEXAMPLEexampleEXAMPLEexampleEXAMPLE00",
    "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjdXJhdG9yLWV4YW1wbGUifQ."
    "c2lnbmF0dXJlLWV4YW1wbGU",
    "api_key": "ccak_EXAMPLEexampleEXAMPLEexampleEXAMPLEexample00",
    "link": "https://www.dropbox.com/s/abc123/lung.h5ad?dl=0",
}
"""The made-up values in ``events/``, which tests replace with live ones."""

POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": "cellucid-cloud",
    "POWERTOOLS_METRICS_NAMESPACE": "cellucid-cloud-tests",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


@dataclass
class FakeLambdaContext:
    """What Powertools reads from the Lambda context (idempotency needs the time left)."""

    function_name: str
    memory_limit_in_mb: int = 3008
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deadline: float = field(default_factory=lambda: time.monotonic() + 900)
    clock: Callable[[], float] = time.monotonic
    """What ``deadline`` is measured on."""

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.clock()) * 1000))


class ControlledTime:
    """Stands in for the ``time`` module where waiting happens (the events service's long
    polls): ``sleep`` moves ``monotonic`` on at once and runs what was scheduled for the time
    it passes, so a test asserts how long something waited without depending on the
    machine's speed. ``time`` stays the wall clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._scheduled: list[tuple[float, Callable[[], None]]] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        due = [action for when, action in self._scheduled if when <= self.now]
        self._scheduled = [(w, a) for w, a in self._scheduled if w > self.now]
        for action in due:
            action()

    def after(self, seconds: float, action: Callable[[], None]) -> None:
        """Run ``action`` during the sleep that passes ``seconds`` from now."""
        self._scheduled.append((self.now + seconds, action))


@contextmanager
def controlled_time() -> Iterator[ControlledTime]:
    """The events service (long polls) on a :class:`ControlledTime`."""
    from cellucid_cloud.events import service

    clock = ControlledTime()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "time", clock)
        yield clock


LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
"""Bytes of a synchronous invocation's response, as the JSON Lambda sends (a binary body
base64-encoded in it): a larger one fails the invocation on AWS, so it fails the test."""
LAMBDA_REQUEST_LIMIT = LAMBDA_RESPONSE_LIMIT
"""Bytes of a synchronous invocation's event (a binary body base64-encoded in it)."""


def within_lambda_limits(response: dict[str, Any]) -> dict[str, Any]:
    """``response``, after checking that Lambda could return it."""
    size = len(json.dumps(response).encode())
    assert size <= LAMBDA_RESPONSE_LIMIT, (
        f"a response of {size} bytes: Lambda returns at most {LAMBDA_RESPONSE_LIMIT}"
    )
    return response


@cache
def function(name: str) -> ModuleType:
    """``functions/<name>/app.py``, imported once (as Lambda imports it once per container);
    its handler's responses are held to Lambda's size limit."""
    spec = importlib.util.spec_from_file_location(
        f"lambda_{name}_app", ROOT / "functions" / name / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = module.handler

    @functools.wraps(handler)
    def checked(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return within_lambda_limits(handler(event, context))

    module.handler = checked
    return module


def event(path: str, **live: str) -> dict[str, Any]:
    """An event from ``events/``, its sample values (:data:`SAMPLE`) replaced by live ones."""
    text = (EVENTS / path).read_text()
    for name, value in live.items():
        text = text.replace(SAMPLE[name], value)
    document: dict[str, Any] = json.loads(text)
    return document


def request(
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    body: bytes | None = None,
    content_type: str | None = None,
    authorization: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API v2 event as API Gateway sends it; bodies other than JSON base64-encoded."""
    http_event = copy.deepcopy(event("events/get-events.json"))
    raw_query = urlencode(query or {})
    http_event.update(rawPath=path, rawQueryString=raw_query)
    http_event["requestContext"]["http"].update(method=method, path=path)
    http_event.pop("queryStringParameters", None)
    if query:
        http_event["queryStringParameters"] = query
    sent = http_event["headers"]
    sent.update(headers or {})
    if content_type is not None:
        sent["content-type"] = content_type
    if authorization is not None:
        sent["authorization"] = authorization
    if body is not None:
        sent["content-length"] = str(len(body))
        binary = content_type is None or not content_type.startswith("application/json")
        http_event["body"] = base64.b64encode(body).decode() if binary else body.decode()
        http_event["isBase64Encoded"] = binary
    return http_event


def with_json_body(http_event: dict[str, Any], body: Any) -> dict[str, Any]:
    encoded = json.dumps(body)
    http_event["body"] = encoded
    http_event["headers"]["content-length"] = str(len(encoded.encode()))
    return http_event


def json_reply(response: dict[str, Any]) -> Any:
    assert not response.get("isBase64Encoded")
    return json.loads(response["body"])


@dataclass
class CloudStack:
    endpoint: str
    uploads_bucket: str
    exports_bucket: str
    sessions_bucket: str
    catalog_table: str
    idempotency_table: str
    queue_url: str
    queue_arn: str
    secret: str
    s3: S3Client
    sqs: SQSClient
    environment: dict[str, str]

    @property
    def repository(self) -> DynamoDbCatalogRepository:
        return DynamoDbCatalogRepository(self.catalog_table, dynamodb_client())

    @property
    def catalog(self) -> CatalogService:
        return CatalogService(self.repository)

    @property
    def auth(self) -> Authenticator:
        return Authenticator(self.repository, self.secret)

    def api(self, http_event: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = function("api").handler(
            http_event, FakeLambdaContext("cellucid-api")
        )
        return response

    def meta(self, http_event: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = function("meta").handler(
            http_event, FakeLambdaContext("cellucid-meta", memory_limit_in_mb=1024)
        )
        return response

    def events(self, http_event: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = function("events").handler(
            http_event, FakeLambdaContext("cellucid-events", deadline=time.monotonic() + 29)
        )
        return response

    def sessions(self, s3_event: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = function("sessions").handler(
            s3_event, FakeLambdaContext("cellucid-sessions")
        )
        return response

    def prepare(self, sqs_event: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = function("prepare").handler(
            sqs_event, FakeLambdaContext("cellucid-prepare")
        )
        return response

    def receive(self, expected: int) -> dict[str, Any]:
        """The queue's next ``expected`` messages as the SQS event Lambda's poller sends."""
        messages: list[Any] = []
        for _ in range(20):
            reply = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages += reply.get("Messages", [])
            if len(messages) >= expected:
                break
            time.sleep(0.1)
        assert len(messages) == expected, messages
        return {"Records": [self._lambda_record(message) for message in messages]}

    def deliver(self, sqs_event: dict[str, Any]) -> dict[str, Any]:
        """Invoke prepare, then delete the messages it did not report as failed (what the
        event source mapping does with ``ReportBatchItemFailures``)."""
        response = self.prepare(sqs_event)
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        for record in sqs_event["Records"]:
            if record["messageId"] not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"]
                )
        return response

    def export_keys(self) -> list[str]:
        listing = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.exports_bucket)
        return sorted(item["Key"] for page in listing for item in page.get("Contents", []))

    def _lambda_record(self, message: Any) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message["Attributes"],
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }


def reset_function_caches() -> None:
    """Forget the functions' parts built for another environment (a new container)."""
    api_handler.cache_clear()
    events_app.cache_clear()
    meta_app.cache_clear()
    session_uploads.cache_clear()
    upload_pipeline.cache_clear()
    export_steps.cache_clear()


@contextmanager
def cloud_stack(endpoint: str) -> Iterator[CloudStack]:
    """Fresh resources on the moto server at ``endpoint`` and the functions' environment."""
    tag = uuid.uuid4().hex[:12]
    s3 = s3_client(endpoint_url=endpoint)
    sqs: SQSClient = boto3.session.Session().client("sqs", endpoint_url=endpoint)
    secrets = boto3.session.Session().client("secretsmanager", endpoint_url=endpoint)
    dynamodb = dynamodb_client(endpoint_url=endpoint)

    dlq_url = sqs.create_queue(QueueName=f"uploads-dlq-{tag}")["QueueUrl"]
    dlq_arn = _queue_arn(sqs, dlq_url)
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
    queue_url = sqs.create_queue(
        QueueName=f"uploads-events-{tag}",
        Attributes={
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    queue_arn = _queue_arn(sqs, queue_url)
    uploads, exports, sessions = f"uploads-{tag}", f"exports-{tag}", f"sessions-{tag}"
    for bucket in (uploads, exports, sessions):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=uploads,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": f"uploads{suffix.replace('.', '-')}",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": suffix}]}},
                }
                for suffix in UPLOAD_SUFFIXES
            ]
        },
    )
    catalog_table, idempotency_table = f"catalog-{tag}", f"idempotency-{tag}"
    ensure_table(dynamodb, catalog_table)
    dynamodb.create_table(
        TableName=idempotency_table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=idempotency_table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"},
    )
    secret = new_secret()
    secret_arn = secrets.create_secret(Name=f"token-secret-{tag}", SecretString=secret)["ARN"]
    environment = {
        "AWS_ENDPOINT_URL": endpoint,
        "CATALOG_TABLE": catalog_table,
        "IDEMPOTENCY_TABLE": idempotency_table,
        "UPLOADS_BUCKET": uploads,
        "EXPORTS_BUCKET": exports,
        "SESSIONS_BUCKET": sessions,
        "PREPARE_QUEUE_URL": queue_url,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TOKEN_SECRET_ARN": secret_arn,
        "META_TTL": "0",
        **POWERTOOLS_ENV,
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        reset_function_caches()
        try:
            yield CloudStack(
                endpoint=endpoint,
                uploads_bucket=uploads,
                exports_bucket=exports,
                sessions_bucket=sessions,
                catalog_table=catalog_table,
                idempotency_table=idempotency_table,
                queue_url=queue_url,
                queue_arn=queue_arn,
                secret=secret,
                s3=s3,
                sqs=sqs,
                environment=environment,
            )
        finally:
            reset_function_caches()
            for bucket in (uploads, exports, sessions):
                empty_bucket(s3, bucket)
                s3.delete_bucket(Bucket=bucket)
            for table in (catalog_table, idempotency_table):
                dynamodb.delete_table(TableName=table)
            for url in (queue_url, dlq_url):
                sqs.delete_queue(QueueUrl=url)
            secrets.delete_secret(SecretId=secret_arn, ForceDeleteWithoutRecovery=True)


def _queue_arn(sqs: SQSClient, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]
