"""The events function on a moto server: it answers as the API app's FastAPI events routes do,
and session bundles too large to post go through an upload URL and the sessions function.

The comparison runs both hosts over the same AWS stores (the event store in the catalog table,
the sessions bucket): the events function as deployed, and the FastAPI app with its events
routes behind Mangum, as ``up`` serves them. Each gets the same HTTP API v2 events, for a
viewer of its own; status, JSON and the headers that matter must be equal.
"""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from mangum import Mangum
from mangum.types import ASGI

from cellucid_cloud.api.app import build_api
from cellucid_cloud.api.context import ApiContext
from cellucid_cloud.aws.events import POLL_INTERVAL, events_resolver
from cellucid_cloud.aws.links import SqsLinkIngest
from cellucid_cloud.catalog.dynamodb_repository import dynamodb_client
from cellucid_cloud.catalog.meta import MetaService
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.events.dynamodb_store import DynamoDbEventStore
from cellucid_cloud.events.service import MAX_DIRECT_BUNDLE_BYTES, EventsService
from cellucid_cloud.storage.s3 import S3Downloads, S3ObjectStore, S3UploadUrls
from cellucid_cloud.storage.s3_blobs import S3BlobStore
from tests.catalog_data import CURATOR, published_collection
from tests.cloud import (
    LAMBDA_REQUEST_LIMIT,
    PUBLIC_BASE_URL,
    ROOT,
    CloudStack,
    FakeLambdaContext,
    cloud_stack,
    controlled_time,
    event,
    function,
    request,
    within_lambda_limits,
)
from tests.hostile_requests import HOSTILE_MAPPINGS, data_mapping_event
from tests.session_bundles import make_bundle

Host = Callable[[dict[str, Any]], dict[str, Any]]
COMPARED_HEADERS = ("content-type", "cache-control", "allow", "www-authenticate")
MiB = 1024 * 1024
JSON = "application/json"
BIG_STRING = json.dumps("x" * 600_000)
"""A data mapping value over DynamoDB's item size, under the 1 MiB post limit."""
BUNDLE_V1, BUNDLE_V2 = make_bundle(1), make_bundle(2)
"""Built once: gzip stamps the time, and both hosts must get the same bytes."""


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[CloudStack]:
    with cloud_stack(moto_server) as stack:
        yield stack


@pytest.fixture(scope="module")
def dataset_id(stack: CloudStack) -> str:
    """A published dataset of 10 cells."""
    return published_collection(stack.catalog, 1)[1][0]


@pytest.fixture(scope="module")
def token(stack: CloudStack) -> str:
    return stack.auth.issue_token(CURATOR)


def events_service(stack: CloudStack) -> EventsService:
    meta = MetaService(
        CatalogService(stack.repository),
        S3ObjectStore(stack.exports_bucket, stack.s3),
        PUBLIC_BASE_URL,
        ttl=0,
        clock=time.monotonic,
    )
    return EventsService(
        DynamoDbEventStore(stack.catalog_table, dynamodb_client()),
        S3BlobStore(stack.sessions_bucket, stack.s3),
        meta,
    )


@pytest.fixture(scope="module")
def fastapi_host(stack: CloudStack) -> Host:
    """The API app with its events routes (as ``up`` has them) over the AWS stores."""
    events = events_service(stack)
    context = ApiContext(
        catalog=stack.catalog,
        meta=events.meta,
        auth=stack.auth,
        uploads=S3UploadUrls(stack.uploads_bucket, stack.s3),
        links=SqsLinkIngest(stack.queue_url, stack.sqs),
        downloads=S3Downloads(stack.uploads_bucket, stack.s3),
        events=events,
        session_uploads=S3UploadUrls(stack.sessions_bucket, stack.s3),
        mode="aws",
    )
    handler = Mangum(cast(ASGI, build_api(context)), lifespan="off")

    def call(http_event: dict[str, Any]) -> dict[str, Any]:
        return within_lambda_limits(handler(http_event, FakeLambdaContext("fastapi-events")))

    return call


def scenario(creds: dict[str, str], dataset_id: str, token: str) -> list[dict[str, Any]]:
    """Requests covering every route and refusal, in an order whose answers are stable."""
    viewer_id, viewer_token = creds["viewerId"], creds["viewerToken"]
    ready = {"type": "ready", "n_cells": 10, "dimensions": 2, **creds}
    bearer = f"Bearer {token}"

    def post_json(path: str, document: Any, **kw: Any) -> dict[str, Any]:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        return request("POST", path, body=body, content_type="application/json", **kw)

    def binary(path: str, body: bytes, content_type: str | None = None, **q: str) -> dict[str, Any]:
        return request("POST", path, query={**creds, **q}, body=body, content_type=content_type)

    def cells(*indices: int) -> bytes:
        return struct.pack(f"<{len(indices)}I", *indices)

    octet = "application/octet-stream"
    selection, bundle = "/_cellucid/selection", "/_cellucid/session_bundle"
    return [
        post_json("/_cellucid/viewers", {"dataset_id": dataset_id}),
        post_json("/_cellucid/viewers", {"dataset_id": dataset_id}, authorization="Bearer x"),
        post_json("/_cellucid/viewers", b"{", authorization=bearer),
        post_json("/_cellucid/viewers", {"dataset_id": dataset_id, "x": 1}, authorization=bearer),
        post_json("/_cellucid/viewers", {"dataset_id": "nope"}, authorization=bearer),
        post_json(
            "/_cellucid/viewers", {"dataset_id": dataset_id, "ttl_seconds": 5}, authorization=bearer
        ),
        request("POST", "/_cellucid/viewers", authorization=bearer),
        post_json("/_cellucid/viewers", b" " * (MiB + 1), authorization=bearer),
        post_json("/_cellucid/events", ready),
        request("POST", "/_cellucid/events", body=json.dumps(ready).encode(), content_type=octet),
        request("POST", "/_cellucid/events", body=json.dumps(ready).encode()),
        post_json("/_cellucid/events", {**ready, "extra": 1}),
        post_json("/_cellucid/events", {**ready, "viewerToken": "forged"}),
        post_json("/_cellucid/events", {**ready, "viewerId": "no-such-viewer"}),
        post_json("/_cellucid/events", {"type": "selection", **creds}),
        post_json("/_cellucid/events", b"not json"),
        post_json("/_cellucid/events", b"{" + b" " * MiB + b"}"),
        *(
            post_json(
                "/_cellucid/events",
                data_mapping_event(creds["viewerId"], creds["viewerToken"], raw),
            )
            for raw in HOSTILE_MAPPINGS
        ),
        post_json("/_cellucid/events", data_mapping_event(viewer_id, viewer_token, BIG_STRING)),
        post_json("/_cellucid/viewers", {"dataset_id": "http://[::1/e/x/"}, authorization=bearer),
        post_json("/_cellucid/viewers", b"[" * 100_000, authorization=bearer),
        post_json("/_cellucid/viewers", b'{"ttl_seconds":' + b"9" * 5000, authorization=bearer),
        request("GET", "/_cellucid/events", query={**creds, "after": "9223372036854775808"}),
        binary(bundle, BUNDLE_V2, octet, requestId="жж"),
        request("GET", "/_cellucid/session_bundles/жж", query=creds),
        binary(selection, cells(1, 5, 9), octet, source="lasso"),
        binary(selection, cells(2), None, source="lasso"),
        binary(selection, cells(3, 2), octet, source="lasso"),
        binary(selection, cells(10), octet, source="lasso"),
        binary(selection, cells(*range(11)), octet, source="lasso"),
        binary(selection, b"", octet, source="lasso"),
        binary(selection, b"\x01\x00\x00\x00\x02", octet, source="lasso"),
        binary(selection, cells(1), "text/plain", source="lasso"),
        binary(selection, cells(1), octet),
        binary(selection, cells(1), octet, source="lasso", viewerToken="forged"),
        binary(selection, cells(1), octet, source="lasso", viewerId="v" * 201),
        binary(bundle, BUNDLE_V1, octet, requestId="req-1"),
        binary(bundle, BUNDLE_V2[:-3], octet, requestId="req-2"),
        binary(bundle, bytes(MAX_DIRECT_BUNDLE_BYTES + 1), octet, requestId="req-3"),
        binary(bundle, BUNDLE_V2, octet, requestId=".hidden"),
        binary(bundle, BUNDLE_V2, octet),
        request("POST", f"{bundle}/upload-url", query={**creds, "requestId": "big"}),
        request("POST", f"{bundle}/upload-url", query={**creds, "requestId": "big", "size": "0"}),
        request("POST", f"{bundle}/upload-url", query={**creds, "requestId": "b", "size": "x"}),
        request("POST", f"{bundle}/upload-url", query={**creds, "requestId": "b", "size": "9e99"}),
        request("POST", f"{bundle}/upload-url", query={**creds, "requestId": "b", "size": "7"}),
        request("GET", "/_cellucid/events", query={**creds, "after": "abc"}),
        request("GET", "/_cellucid/events", query={**creds, "wait": "26"}),
        request("GET", "/_cellucid/events", query={"viewerId": viewer_id}),
        request("GET", "/_cellucid/events", query=creds),
        request("GET", "/_cellucid/events", query={**creds, "after": "4", "wait": "0.3"}),
        request("GET", "/_cellucid/events", query={**creds, "after": "2"}),
        request("GET", "/_cellucid/session_bundles", query=creds),
        request("GET", "/_cellucid/session_bundles", query={**creds, "viewerToken": "forged"}),
        request("GET", "/_cellucid/session_bundles/req-1", query=creds),
        request("GET", "/_cellucid/session_bundles/req-2", query=creds),
        request("DELETE", "/_cellucid/events", query=creds),
        request("GET", "/_cellucid/viewers"),
        request("PUT", "/_cellucid/session_bundles/req-1", query=creds),
        request("GET", "/_cellucid/events", query={**creds, "viewerToken": viewer_token[::-1]}),
        post_json("/_cellucid/viewers", {"dataset_id": dataset_id}, authorization=bearer),
    ]


def normalized(response: dict[str, Any], creds: dict[str, str]) -> dict[str, Any]:
    """What must match: the status, the body with this viewer's credentials and the signed or
    timed parts of answers replaced, and the headers that carry meaning."""
    headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
    raw = response.get("body", "")
    data = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
    body: Any = data
    if not data:  # Mangum labels an empty body (a redirect's) JSON; Powertools sends no type
        headers.pop("content-type", None)
    if headers.get("content-type", "").startswith("application/json"):
        text = data.decode()
        for name, value in creds.items():
            text = text.replace(value, f"<{name}>")
        body = json.loads(text)
        if isinstance(body, dict) and "viewerToken" in body:
            body = sorted(body)
        for bundle in body.get("bundles", []) if isinstance(body, dict) else []:
            bundle["created_at"] = bool(bundle["created_at"])
        if isinstance(body, dict) and "url" in body:
            url = urlsplit(body["url"])
            body["url"] = (url.path, sorted(parse_qs(url.query)))
    return {
        "status": response["statusCode"],
        "body": body,
        "headers": {h: headers[h] for h in COMPARED_HEADERS if h in headers},
        "content-disposition": headers.get("content-disposition"),
    }


def register(host: Host, dataset_id: str, token: str) -> dict[str, str]:
    body = json.dumps({"dataset_id": dataset_id}).encode()
    http_event = request(
        "POST",
        "/_cellucid/viewers",
        body=body,
        content_type="application/json",
        authorization=f"Bearer {token}",
    )
    reply = host(http_event)
    assert reply["statusCode"] == 201, reply
    answer = json.loads(reply["body"])
    return {"viewerId": answer["viewerId"], "viewerToken": answer["viewerToken"]}


def test_the_events_function_answers_as_the_api_routes_do(
    stack: CloudStack, fastapi_host: Host, dataset_id: str, token: str
) -> None:
    answers: dict[str, list[dict[str, Any]]] = {}
    for name, host in (("fastapi", fastapi_host), ("events function", stack.events)):
        creds = register(host, dataset_id, token)
        answers[name] = [
            normalized(host(http_event), creds) for http_event in scenario(creds, dataset_id, token)
        ]
    fastapi, powertools = answers["fastapi"], answers["events function"]
    assert len(fastapi) == len(powertools)
    for index, (expected, got) in enumerate(zip(fastapi, powertools, strict=True)):
        assert got == expected, f"request {index}"
    statuses = [a["status"] for a in fastapi]
    assert {200, 201, 400, 401, 403, 404, 405, 413, 415, 422} <= set(statuses), statuses


def test_the_events_function_refuses_what_it_could_not_serve_back(
    stack: CloudStack, dataset_id: str, token: str
) -> None:
    """The AWS twin of findings 5 and 6: a lone surrogate, deep nesting, a 5,000-digit
    integer, NaN or an infinite float is a 400 at post time; the stream stays readable."""
    creds = register(stack.events, dataset_id, token)
    for mapping in HOSTILE_MAPPINGS:
        posted = request(
            "POST",
            "/_cellucid/events",
            body=data_mapping_event(creds["viewerId"], creds["viewerToken"], mapping),
            content_type="application/json",
        )
        reply = stack.events(posted)
        assert reply["statusCode"] == 400, (mapping[:10], reply)
        assert json.loads(reply["body"])["detail"]
    reply = stack.events(request("GET", "/_cellucid/events", query=creds))
    assert reply["statusCode"] == 200 and json.loads(reply["body"])["events"] == []


def test_an_event_larger_than_a_dynamodb_item_is_a_413(
    stack: CloudStack, dataset_id: str, token: str
) -> None:
    """Under the 1 MiB a post may carry but over the 400 KiB a DynamoDB item holds: the
    function used to fail with an unhandled ValidationException (a 5xx)."""
    creds = register(stack.events, dataset_id, token)
    for text, status in ((BIG_STRING, 413), (json.dumps("x" * 390_000), 200)):
        body = data_mapping_event(creds["viewerId"], creds["viewerToken"], text)
        reply = stack.events(request("POST", "/_cellucid/events", body=body, content_type=JSON))
        assert reply["statusCode"] == status, reply


def test_each_post_reads_its_viewer_once(stack: CloudStack, dataset_id: str, token: str) -> None:
    """The route authenticates the viewer and hands it to the service, which used to look it
    up again: one DynamoDB read of the viewer per event, selection and bundle posted."""
    service = events_service(stack)
    resolver = events_resolver(
        service, lambda: stack.auth, S3UploadUrls(stack.sessions_bucket, stack.s3)
    )

    def host(http_event: dict[str, Any]) -> dict[str, Any]:
        return cast(dict[str, Any], resolver.resolve(http_event, FakeLambdaContext("events")))

    creds = register(host, dataset_id, token)
    reads: list[str] = []
    store = cast(DynamoDbEventStore, service.store)
    store.client.meta.events.register(
        "provide-client-params.dynamodb.GetItem",
        lambda params, **_: reads.append(params["Key"]["pk"]["S"]),
    )
    ready = {"type": "ready", "n_cells": 10, "dimensions": 2, **creds}
    octet = "application/octet-stream"
    posts = [
        request("POST", "/_cellucid/events", body=json.dumps(ready).encode(), content_type=JSON),
        request(
            "POST",
            "/_cellucid/selection",
            query={**creds, "source": "lasso"},
            body=struct.pack("<2I", 1, 5),
            content_type=octet,
        ),
        request(
            "POST",
            "/_cellucid/session_bundle",
            query={**creds, "requestId": "once"},
            body=BUNDLE_V1,
            content_type=octet,
        ),
    ]
    for posted in posts:
        reads.clear()
        reply = host(posted)
        assert reply["statusCode"] == 200, reply
        assert len(reads) == 1, (posted["rawPath"], reads)


def test_a_long_poll_returns_when_an_event_arrives(
    stack: CloudStack, dataset_id: str, token: str
) -> None:
    creds = register(stack.events, dataset_id, token)
    service = events_service(stack)
    click = {"type": "click", "cell": 7, "button": 0, "shift": False, "ctrl": False}
    with controlled_time() as clock:
        started = clock.now
        clock.after(1.0, lambda: service.post_event(json.dumps({**click, **creds}).encode()))
        reply = stack.events(request("GET", "/_cellucid/events", query={**creds, "wait": "20"}))
        waited = clock.now - started
    assert json.loads(reply["body"]) == {"events": [click], "cursor": "1"}
    assert 1.0 <= waited <= 1.0 + POLL_INTERVAL  # the first poll after it arrived


def test_a_long_poll_ends_before_the_invocation_does(
    stack: CloudStack, dataset_id: str, token: str
) -> None:
    """With 4 s of the invocation left, a 25 s long poll ends empty after 2 s: the margin the
    function keeps to answer in (``ANSWER_MARGIN``)."""
    creds = register(stack.events, dataset_id, token)
    http_event = request("GET", "/_cellucid/events", query={**creds, "wait": "25"})
    with controlled_time() as clock:
        started = clock.now
        context = FakeLambdaContext("cellucid-events", deadline=started + 4, clock=clock.monotonic)
        reply = function("events").handler(http_event, context)
        waited = clock.now - started
    assert reply["statusCode"] == 200 and json.loads(reply["body"])["events"] == []
    assert 2.0 <= waited <= 2.0 + POLL_INTERVAL


def notification(stack: CloudStack, key: str) -> dict[str, Any]:
    """The sessions bucket's ObjectCreated notification for an object now in it."""
    s3_event = event("sessions/s3-put.json")
    record = s3_event["Records"][0]["s3"]
    head = stack.s3.head_object(Bucket=stack.sessions_bucket, Key=key)
    record["bucket"].update(name=stack.sessions_bucket, arn=f"arn:aws:s3:::{stack.sessions_bucket}")
    record["object"].update(key=key, size=head["ContentLength"], eTag=head["ETag"].strip('"'))
    return s3_event


def test_a_large_bundle_goes_through_an_upload_url_and_the_sessions_function(
    stack: CloudStack, dataset_id: str, token: str
) -> None:
    creds = register(stack.events, dataset_id, token)
    big = make_bundle(2, chunks=[("highlights/cells/1", bytes(range(256)) * 24_000, "none")])
    assert len(big) > MAX_DIRECT_BUNDLE_BYTES
    for request_id, body in (("big", big), ("broken", big[:-1])):
        reply = stack.events(
            request(
                "POST",
                "/_cellucid/session_bundle/upload-url",
                query={**creds, "requestId": request_id, "size": str(len(body))},
            )
        )
        grant = json.loads(reply["body"])
        assert reply["statusCode"] == 200, grant
        assert httpx.put(grant["url"], content=body, headers=grant["headers"]).status_code == 200
        key = f"sessions/{creds['viewerId']}/{request_id}.cellucid-session"
        verdict = "recorded" if request_id == "big" else "rejected"
        assert stack.sessions(notification(stack, key)) == {key: verdict}

    reply = stack.events(request("GET", "/_cellucid/events", query=creds))
    accepted, rejected = json.loads(reply["body"])["events"]
    assert accepted == {
        "type": "session_bundle",
        "requestId": "big",
        "status": "ok",
        "bytes": len(big),
    }
    assert rejected["requestId"] == "broken" and rejected["status"] == "rejected"
    assert "chunk 0" in rejected["reason"]
    listing = stack.s3.list_objects_v2(
        Bucket=stack.sessions_bucket, Prefix=f"sessions/{creds['viewerId']}/"
    )
    assert [o["Key"].rsplit("/", 1)[1] for o in listing["Contents"]] == ["big.cellucid-session"]
    stored = stack.s3.get_object(Bucket=stack.sessions_bucket, Key=listing["Contents"][0]["Key"])
    assert stored["Body"].read() == big


@pytest.mark.parametrize("size", [10_000, MAX_DIRECT_BUNDLE_BYTES, 5 * MiB, 20 * MiB])
def test_a_bundle_of_any_size_downloads_within_lambdas_response_limit(
    stack: CloudStack, dataset_id: str, token: str, size: int
) -> None:
    """Every download is a redirect to a presigned GET of the one key (15 minutes at most):
    the events function's response stays small whatever the bundle (``stack.events`` fails
    any response over 6 MB, as Lambda would), and S3 serves the bytes."""
    creds = register(stack.events, dataset_id, token)
    payload = bytes(range(256)) * (size // 256)
    big = make_bundle(2, chunks=[("highlights/cells/1", payload, "none")])
    key = f"sessions/{creds['viewerId']}/big.cellucid-session"
    stack.s3.put_object(Bucket=stack.sessions_bucket, Key=key, Body=big)
    assert stack.sessions(notification(stack, key)) == {key: "recorded"}
    reply = stack.events(request("GET", "/_cellucid/session_bundles/big", query=creds))
    assert reply["statusCode"] == 302, reply["statusCode"]
    assert len(json.dumps(reply)) < 10_000
    location = reply["headers"]["location"]
    assert reply["headers"]["cache-control"] == "no-store"
    assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == ["900"]
    assert urlsplit(location).path.endswith(f"/{key}")
    fetched = httpx.get(location)
    assert fetched.content == big
    assert fetched.headers["content-disposition"] == 'attachment; filename="big.cellucid-session"'


def test_a_bundle_posted_at_the_limit_fits_a_lambda_request(
    stack: CloudStack, dataset_id: str, token: str
) -> None:
    """The largest direct post arrives base64-encoded in an event Lambda accepts (6 MB); one
    byte more is refused, naming the limit."""
    creds = register(stack.events, dataset_id, token)
    filler = MAX_DIRECT_BUNDLE_BYTES
    for _ in range(3):  # the manifest names the chunk's length: settle on the exact size
        bundle = make_bundle(2, chunks=[("highlights/cells/1", bytes(filler), "none")])
        filler -= len(bundle) - MAX_DIRECT_BUNDLE_BYTES
    assert len(bundle) == MAX_DIRECT_BUNDLE_BYTES
    for body, status in ((bundle, 200), (bundle + b"\x00", 413)):
        posted = request(
            "POST",
            "/_cellucid/session_bundle",
            query={**creds, "requestId": f"limit-{status}"},
            body=body,
            content_type="application/octet-stream",
        )
        if status == 200:
            assert len(json.dumps(posted).encode()) <= LAMBDA_REQUEST_LIMIT
        reply = stack.events(posted)
        assert reply["statusCode"] == status, reply
    assert str(MAX_DIRECT_BUNDLE_BYTES) in json.loads(reply["body"])["detail"]


def test_the_notification_of_a_posted_bundle_is_left_alone(
    stack: CloudStack, dataset_id: str, token: str
) -> None:
    creds = register(stack.events, dataset_id, token)
    posted = request(
        "POST",
        "/_cellucid/session_bundle",
        query={**creds, "requestId": "small"},
        body=make_bundle(2),
        content_type="application/octet-stream",
    )
    assert stack.events(posted)["statusCode"] == 200
    key = f"sessions/{creds['viewerId']}/small.cellucid-session"
    assert stack.sessions(notification(stack, key)) == {key: "posted"}
    reply = stack.events(request("GET", "/_cellucid/events", query=creds))
    assert [e["status"] for e in json.loads(reply["body"])["events"]] == ["ok"]


def test_an_upload_for_an_unknown_viewer_is_deleted(stack: CloudStack) -> None:
    key = "sessions/no-such-viewer/r.cellucid-session"
    stack.s3.put_object(Bucket=stack.sessions_bucket, Key=key, Body=make_bundle(2))
    assert stack.sessions(notification(stack, key)) == {key: "rejected"}
    assert stack.s3.list_objects_v2(Bucket=stack.sessions_bucket, Prefix=key)["KeyCount"] == 0


@pytest.mark.parametrize(
    ("name", "absent"),
    [
        ("events", {"fastapi", "starlette", "mangum", "numpy", "anndata"}),
        ("sessions", {"fastapi", "starlette", "mangum", "numpy", "anndata", "httpx"}),
    ],
)
def test_the_small_functions_import_no_web_framework(name: str, absent: set[str]) -> None:
    """What their cold start skips (numpy: only once a selection arrives)."""
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('app', {str(ROOT)!r} + "
        f"'/functions/{name}/app.py')\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        f"print(sorted(set({sorted(absent)!r}) & set(sys.modules)))\n"
    )
    env = {"POWERTOOLS_TRACE_DISABLED": "true", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    )
    assert result.stdout.strip() == "[]", result.stderr
