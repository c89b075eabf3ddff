"""Every sample event in ``events/`` is accepted by its handler (one test per file).

The events keep the made-up ids AWS documentation would show; each test swaps in live ones
(``tests.cloud.event``) for a catalog built on the moto server through the real use cases.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from cellucid_cloud.api import auth
from cellucid_cloud.api.auth import hash_api_key
from cellucid_cloud.aws.events import POLL_INTERVAL
from cellucid_cloud.catalog.models import (
    ApiKeyRecord,
    Dataset,
    DatasetStatus,
    DatasetVersion,
    new_id,
)
from cellucid_cloud.catalog.repository import Delete, Put
from tests.catalog_data import CURATOR, METADATA, published_collection, upload_ready
from tests.cloud import (
    EVENTS,
    PUBLIC_BASE_URL,
    SAMPLE,
    CloudStack,
    ControlledTime,
    cloud_stack,
    controlled_time,
    event,
    json_reply,
    reset_function_caches,
    with_json_body,
)
from tests.export_data import make_adata
from tests.file_server import file_server
from tests.session_bundles import make_bundle


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[CloudStack]:
    with cloud_stack(moto_server) as stack:
        yield stack


@pytest.fixture(scope="module")
def token(stack: CloudStack) -> str:
    return stack.auth.issue_token(CURATOR)


@pytest.fixture(scope="module")
def published(stack: CloudStack) -> tuple[str, str]:
    """A published collection with one ready dataset: (collection id, dataset id)."""
    collection_id, (dataset_id,) = published_collection(stack.catalog, 1)
    return collection_id, dataset_id


def private_dataset(stack: CloudStack) -> tuple[str, str]:
    view = stack.catalog.create_collection(CURATOR, METADATA)
    collection_id = view.collection.collection_id
    return collection_id, stack.catalog.add_dataset(CURATOR, collection_id, "d").dataset_id


def call(stack: CloudStack, path: str, **live: str) -> tuple[int, Any]:
    """Send a sample event to the function its folder names (``api/…``, ``meta/…``)."""
    reply = getattr(stack, path.split("/", maxsplit=1)[0])(event(path, **live))
    return reply["statusCode"], json_reply(reply) if reply.get("body") else None


def version_id_of(stack: CloudStack, dataset_id: str) -> str:
    """The version a dataset's canonical URL shows."""
    dataset = stack.repository.get(Dataset, dataset_id)
    assert dataset is not None
    return dataset.version_id


# -- public routes ---------------------------------------------------------------------------


def test_health(stack: CloudStack) -> None:
    status, body = call(stack, "meta/health.json")
    assert status == 200 and body["status"] == "ok"


def test_info(stack: CloudStack) -> None:
    status, body = call(stack, "meta/info.json")
    assert status == 200 and body["mode"] == "aws"


def test_cellucid_datasets(stack: CloudStack, published: tuple[str, str]) -> None:
    status, body = call(stack, "meta/cellucid-datasets.json")
    assert status == 200
    assert published[1] in {entry["id"] for entry in body["datasets"]}


def test_collections(stack: CloudStack, published: tuple[str, str]) -> None:
    status, body = call(stack, "meta/collections.json")
    assert status == 200
    listed = {c["id"]: c for c in body["collections"]}
    assert listed[published[0]]["dataset_count"] == 1


def test_dataset_download(stack: CloudStack, published: tuple[str, str]) -> None:
    """The sample catalog's versions name made-up upload keys: not stored, so 410."""
    status, body = call(stack, "meta/dataset-download.json", dataset_id=published[1])
    assert status == 410 and body["status"] == 410


def test_datasets_json(stack: CloudStack, published: tuple[str, str]) -> None:
    status, body = call(stack, "meta/datasets-json.json")
    version_id = version_id_of(stack, published[1])
    assert status == 200 and body["version"] == 1
    assert {"id": published[1], "path": f"exports/{version_id}/"}.items() <= next(
        entry for entry in body["datasets"] if entry["id"] == published[1]
    ).items()


@pytest.mark.parametrize("path", ["meta/meta.json", "meta/meta-rfc-spelling.json"])
def test_meta(stack: CloudStack, published: tuple[str, str], path: str) -> None:
    collection_id, dataset_id = published
    status, body = call(stack, path, dataset_id=dataset_id)
    version_id = version_id_of(stack, dataset_id)
    assert status == 200
    assert body["collection_id"] == collection_id
    assert body["collection_visibility"] == "PUBLIC"
    assert body["export_url"] == f"{PUBLIC_BASE_URL}/exports/{version_id}/"
    assert body["explorer_s3_uri"] == f"s3://{stack.exports_bucket}/exports/{version_id}/"


def test_meta_for_an_unknown_dataset_is_a_json_404(stack: CloudStack) -> None:
    status, body = call(stack, "meta/meta.json")
    assert status == 404 and body["detail"] == "no dataset at this URL"


def test_collection(stack: CloudStack, published: tuple[str, str]) -> None:
    collection_id, dataset_id = published
    status, body = call(stack, "meta/collection.json", collection_id=collection_id)
    assert status == 200
    assert [d["dataset_id"] for d in body["datasets"]] == [dataset_id]


# -- curation --------------------------------------------------------------------------------


def test_curation_token(stack: CloudStack) -> None:
    api_key = stack.auth.create_api_key(CURATOR, "events test")
    status, body = call(stack, "api/curation-token.json", api_key=api_key)
    assert status == 200
    assert stack.auth.curator_for_token(body["access_token"]) == CURATOR
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == body["expires_in"] == 3600  # docs/security.md: 1 h
    status, body = call(stack, "api/curation-token.json")  # the sample's made-up key
    assert status == 401 and "API key" in body["detail"]


@pytest.mark.parametrize("revoke", ["delete the key's record", "mark the key revoked"])
def test_a_revoked_keys_tokens_stop_working_within_a_minute(stack: CloudStack, revoke: str) -> None:
    """docs/deploy.md revokes a key by deleting its record; either way, every token the key
    was exchanged for is refused a minute later at the latest (each process remembers a key's
    state for ``KEY_CHECK_SECONDS``, 30 s)."""
    clock = ControlledTime()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "time", clock)
        reset_function_caches()  # a fresh container, whose key cache runs on this clock
        api_key = stack.auth.create_api_key("curator-revoked", "revoked soon")
        token = call(stack, "api/curation-token.json", api_key=api_key)[1]["access_token"]
        assert call(stack, "api/curation-list-collections.json", token=token)[0] == 200
        record = stack.repository.get(ApiKeyRecord, hash_api_key(api_key))
        assert record is not None
        if revoke == "delete the key's record":
            stack.repository.commit([Delete(record)])
        else:
            stack.repository.commit([Put(record.model_copy(update={"revoked": True}))])
        clock.sleep(60)  # a minute after the revocation
        status, body = call(stack, "api/curation-list-collections.json", token=token)
        assert (status, body["detail"]) == (401, "the API key of this token was revoked")
        assert call(stack, "api/curation-token.json", api_key=api_key)[0] == 401
    reset_function_caches()


def test_curation_list_collections(
    stack: CloudStack, token: str, published: tuple[str, str]
) -> None:
    status, body = call(stack, "api/curation-list-collections.json", token=token)
    assert status == 200 and published[0] in {c["collection_id"] for c in body}


def test_curation_without_a_valid_token_is_401(stack: CloudStack) -> None:
    status, body = call(stack, "api/curation-list-collections.json")
    assert status == 401 and body["detail"] == "invalid access token"


def test_curation_create_collection(stack: CloudStack, token: str) -> None:
    status, body = call(stack, "api/curation-create-collection.json", token=token)
    assert status == 201
    created = stack.catalog.version_for(body["collection_id"])
    assert created.version.metadata.name == "Lung atlas"


def test_curation_get_collection(stack: CloudStack, token: str, published: tuple[str, str]) -> None:
    status, body = call(
        stack, "api/curation-get-collection.json", token=token, collection_id=published[0]
    )
    assert status == 200 and body["visibility"] == "PUBLIC"


def test_curation_patch_collection(stack: CloudStack, token: str) -> None:
    collection_id, _ = private_dataset(stack)
    status, body = call(
        stack, "api/curation-patch-collection.json", token=token, collection_id=collection_id
    )
    assert status == 200 and body["description"].endswith("and Smart-seq2")


def test_curation_create_dataset(stack: CloudStack, token: str) -> None:
    collection_id, _ = private_dataset(stack)
    status, body = call(
        stack, "api/curation-create-dataset.json", token=token, collection_id=collection_id
    )
    assert status == 201 and body["dataset_id"]


def test_curation_upload_url(stack: CloudStack, token: str) -> None:
    collection_id, dataset_id = private_dataset(stack)
    ids = {"token": token, "collection_id": collection_id, "dataset_id": dataset_id}
    status, body = call(stack, "api/curation-upload-url.json", **ids)
    assert status == 200
    assert body["key"] == f"{collection_id}/{dataset_id}/{body['upload_id']}.h5ad"
    assert version_id_of(stack, dataset_id) == body["dataset_version_id"]
    query = parse_qs(urlsplit(body["url"]).query)
    assert "content-length" in query["X-Amz-SignedHeaders"][0].split(";")
    assert body["max_bytes"] == 1048576 and body["expires_in"] <= 900

    without_size = with_json_body(event("api/curation-upload-url.json", **ids), {})
    reply = stack.api(without_size)
    assert reply["statusCode"] == 422
    assert '"size"' in json_reply(reply)["detail"]


def test_curation_set_export_options(stack: CloudStack, token: str) -> None:
    collection_id, dataset_id = private_dataset(stack)
    ids = {"token": token, "collection_id": collection_id, "dataset_id": dataset_id}
    status, body = call(stack, "api/curation-set-export-options.json", **ids)
    assert status == 200, body
    assert body["status"] == "waiting"  # nothing uploaded yet: kept for the first upload
    version = stack.repository.get(DatasetVersion, body["dataset_version_id"])
    assert version is not None
    assert version.export_options == {"obs_keys": ["cell_type"], "default_embedding": "X_umap"}


def test_curation_multipart_upload(stack: CloudStack, token: str, tmp_path: Path) -> None:
    """Start, part URLs, PUTs to S3 (moto), complete: S3's CompleteMultipartUpload event then
    goes to prepare like any upload's."""
    collection_id, dataset_id = private_dataset(stack)
    ids = {"token": token, "collection_id": collection_id, "dataset_id": dataset_id}
    path = tmp_path / "lung.h5ad"
    make_adata(n_cells=90, n_genes=12).write_h5ad(path)
    data = path.read_bytes()
    start = with_json_body(
        event("api/curation-multipart-start.json", **ids),
        {"size": len(data), "file_name": "lung.h5ad"},
    )
    reply = stack.api(start)
    assert reply["statusCode"] == 201, reply
    started = json_reply(reply)
    assert started["key"] == f"{collection_id}/{dataset_id}/{started['upload_id']}.h5ad"
    assert (started["part_count"], started["size"]) == (1, len(data))
    assert version_id_of(stack, dataset_id) == started["dataset_version_id"]
    ids["upload_id"] = started["upload_id"]

    urls = with_json_body(event("api/curation-multipart-part-urls.json", **ids), {"parts": [1]})
    reply = stack.api(urls)
    assert reply["statusCode"] == 200, reply
    [part] = json_reply(reply)["parts"]
    assert (part["part_number"], part["size"]) == (1, len(data))
    assert "content-length" in parse_qs(urlsplit(part["url"]).query)["X-Amz-SignedHeaders"][0]
    put = httpx.put(part["url"], content=data, headers=part["headers"])
    assert put.status_code == 200, put.text

    etag = [{"part_number": 1, "etag": put.headers["etag"]}]
    complete = with_json_body(event("api/curation-multipart-complete.json", **ids), {"parts": etag})
    assert stack.api(complete)["statusCode"] == 204
    live = stack.s3.head_object(Bucket=stack.uploads_bucket, Key=started["key"])
    assert live["ContentLength"] == len(data)

    sqs_event = event(
        "prepare/s3-complete-multipart-via-sqs.json",
        uploads_bucket=stack.uploads_bucket,
        collection_id=collection_id,
        dataset_id=dataset_id,
        upload_id=started["upload_id"],
    )
    record = json.loads(sqs_event["Records"][0]["body"])
    record["Records"][0]["s3"]["object"] |= {"eTag": live["ETag"].strip('"'), "size": len(data)}
    sqs_event["Records"][0]["body"] = json.dumps(record)
    assert stack.prepare(sqs_event) == {"batchItemFailures": []}
    ready = stack.repository.get(DatasetVersion, started["dataset_version_id"])
    assert ready is not None and ready.status is DatasetStatus.READY, ready
    assert ready.stats is not None and ready.stats.n_cells == 90


def test_curation_multipart_abort(stack: CloudStack, token: str) -> None:
    """A cancelled multipart upload: its parts dropped at S3, its version failed at once."""
    collection_id, dataset_id = private_dataset(stack)
    ids = {"token": token, "collection_id": collection_id, "dataset_id": dataset_id}
    status, started = call(stack, "api/curation-multipart-start.json", **ids)
    assert status == 201, started
    assert started["part_count"] == 1280  # the sample's 20 GiB, in 16 MiB parts
    ids["upload_id"] = started["upload_id"]
    listed = stack.s3.list_multipart_uploads(Bucket=stack.uploads_bucket).get("Uploads", [])
    assert started["key"] in [upload["Key"] for upload in listed]

    status, _ = call(stack, "api/curation-multipart-abort.json", **ids)
    assert status == 204
    listed = stack.s3.list_multipart_uploads(Bucket=stack.uploads_bucket).get("Uploads", [])
    assert started["key"] not in [upload["Key"] for upload in listed]
    failed = stack.repository.get(DatasetVersion, started["dataset_version_id"])
    assert failed is not None and failed.status is DatasetStatus.FAILED
    assert failed.reason == "lung.h5ad: the upload was cancelled before it was complete"
    status, body = call(stack, "api/curation-multipart-part-urls.json", **ids)
    assert status == 404, body  # gone: no more part URLs


def test_curation_ingest_link_queues_the_download_for_prepare(
    stack: CloudStack, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve = socket.getaddrinfo

    def dropbox_resolves(host: str, *args: Any, **kwargs: Any) -> Any:  # no DNS here
        if host == "www.dropbox.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("162.125.1.18", 443))]
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", dropbox_resolves)
    collection_id, dataset_id = private_dataset(stack)
    status, body = call(
        stack,
        "api/curation-ingest-link.json",
        token=token,
        collection_id=collection_id,
        dataset_id=dataset_id,
    )
    assert status == 202, body
    key = f"{collection_id}/{dataset_id}/{body['upload_id']}.h5ad"
    assert queued_link_requests(stack) == [{"link": SAMPLE["link"], "key": key}]


def queued_link_requests(stack: CloudStack) -> list[dict[str, str]]:
    """The link requests waiting in the prepare queue (other messages are left there)."""
    bodies: list[Any] = []
    for _ in range(5):
        reply = stack.sqs.receive_message(
            QueueUrl=stack.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        )
        bodies += [json.loads(m["Body"]) for m in reply.get("Messages", [])]
    requests = [b for b in bodies if set(b) == {"link", "key"}]
    return list({json.dumps(r, sort_keys=True): r for r in requests}.values())


def test_curation_get_dataset(stack: CloudStack, token: str, published: tuple[str, str]) -> None:
    collection_id, dataset_id = published
    status, body = call(
        stack,
        "api/curation-get-dataset.json",
        token=token,
        collection_id=collection_id,
        dataset_id=dataset_id,
    )
    assert status == 200 and body["status"] == "ready"


def test_curation_publish(stack: CloudStack, token: str) -> None:
    collection_id, dataset_id = private_dataset(stack)
    upload_ready(stack.catalog, collection_id, dataset_id, "v1")
    status, body = call(
        stack, "api/curation-publish.json", token=token, collection_id=collection_id
    )
    assert status == 200 and body["visibility"] == "PUBLIC"


def test_curation_start_revision(stack: CloudStack, token: str) -> None:
    collection_id, _ = published_collection(stack.catalog, 1)
    status, body = call(
        stack, "api/curation-start-revision.json", token=token, collection_id=collection_id
    )
    assert status == 201 and body["collection_id"] != collection_id


def test_curation_delete_dataset(stack: CloudStack, token: str) -> None:
    collection_id, dataset_id = private_dataset(stack)
    status, _ = call(
        stack,
        "api/curation-delete-dataset.json",
        token=token,
        collection_id=collection_id,
        dataset_id=dataset_id,
    )
    assert status == 204
    assert dataset_id not in stack.catalog.version_for(collection_id).version.datasets


def test_curation_delete_collection(stack: CloudStack, token: str) -> None:
    collection_id, _ = private_dataset(stack)
    status, _ = call(
        stack, "api/curation-delete-collection.json", token=token, collection_id=collection_id
    )
    assert status == 204


# -- prepare ---------------------------------------------------------------------------------


def test_prepare_s3_put_via_sqs(stack: CloudStack, tmp_path: Path) -> None:
    """A file put straight into the bucket (a direct drop): recorded when its event comes."""
    collection_id, dataset_id = private_dataset(stack)
    path = tmp_path / "upload.h5ad"
    make_adata(n_cells=120, n_genes=12).write_h5ad(path)
    key = f"{collection_id}/{dataset_id}.h5ad"
    stack.s3.upload_file(str(path), stack.uploads_bucket, key)
    sqs_event = event(
        "prepare/s3-put-via-sqs.json",
        uploads_bucket=stack.uploads_bucket,
        collection_id=collection_id,
        dataset_id=dataset_id,
        etag=live_etag(stack, key),
    )
    assert stack.prepare(sqs_event) == {"batchItemFailures": []}
    version = stack.repository.get(DatasetVersion, version_id_of(stack, dataset_id))
    assert version is not None and version.status is DatasetStatus.READY
    assert version.stats is not None and version.stats.n_cells == 120


def test_prepare_s3_put_of_an_upload_url_via_sqs(stack: CloudStack, tmp_path: Path) -> None:
    """The PUT to an upload URL: its upload was accepted (and its version current) when the
    URL was issued."""
    collection_id, dataset_id = private_dataset(stack)
    upload, version = stack.catalog.accept_upload(
        CURATOR,
        collection_id,
        dataset_id,
        upload_id=new_id(),
        suffix=".h5ad",
        file_name="lung.h5ad",
        expires_in=900,
    )
    path = tmp_path / "upload.h5ad"
    make_adata(n_cells=90, n_genes=12).write_h5ad(path)
    stack.s3.upload_file(str(path), stack.uploads_bucket, upload.object_key)
    sqs_event = event(
        "prepare/s3-put-upload-url-via-sqs.json",
        uploads_bucket=stack.uploads_bucket,
        collection_id=collection_id,
        dataset_id=dataset_id,
        upload_id=upload.upload_id,
        etag=live_etag(stack, upload.object_key),
    )
    assert stack.prepare(sqs_event) == {"batchItemFailures": []}
    ready = stack.repository.get(DatasetVersion, version.version_id)
    assert ready is not None and ready.status is DatasetStatus.READY
    assert ready.stats is not None and ready.stats.n_cells == 90
    assert version_id_of(stack, dataset_id) == version.version_id


def live_etag(stack: CloudStack, key: str) -> str:
    return stack.s3.head_object(Bucket=stack.uploads_bucket, Key=key)["ETag"].strip('"')


def test_prepare_s3_test_event_via_sqs(stack: CloudStack) -> None:
    sqs_event = event("prepare/s3-test-event-via-sqs.json")
    assert stack.prepare(sqs_event) == {"batchItemFailures": []}


def test_prepare_link_via_sqs(
    stack: CloudStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prepare downloads the link into the uploads bucket (private hosts allowed by setting,
    as this file server is on 127.0.0.1), or records why it could not."""
    monkeypatch.setenv("ALLOW_PRIVATE_LINKS", "true")
    reset_function_caches()
    make_adata(n_cells=40, n_genes=6).write_h5ad(tmp_path / "lung.h5ad")
    good, gone = private_dataset(stack), private_dataset(stack)
    accepted = {}
    try:
        with file_server(tmp_path) as files:
            for (collection_id, dataset_id), name in ((good, "lung.h5ad"), (gone, "gone.h5ad")):
                link = f"{files}/{name}"
                accepted[name] = stack.catalog.accept_upload(  # as the API does
                    CURATOR,
                    collection_id,
                    dataset_id,
                    upload_id=new_id(),
                    suffix=".h5ad",
                    file_name=link,
                    expires_in=3600,
                )
                sqs_event = event(
                    "prepare/link-via-sqs.json",
                    link=link,
                    collection_id=collection_id,
                    dataset_id=dataset_id,
                    upload_id=accepted[name][0].upload_id,
                )
                assert stack.prepare(sqs_event) == {"batchItemFailures": []}
    finally:
        monkeypatch.delenv("ALLOW_PRIVATE_LINKS")
        reset_function_caches()
    good_key = accepted["lung.h5ad"][0].object_key
    stored = stack.s3.get_object(Bucket=stack.uploads_bucket, Key=good_key)
    assert stored["Body"].read() == (tmp_path / "lung.h5ad").read_bytes()
    version = stack.repository.get(DatasetVersion, accepted["gone.h5ad"][1].version_id)
    assert version is not None and version.status is DatasetStatus.FAILED
    assert version.reason is not None and "HTTP 404" in version.reason


# -- events ----------------------------------------------------------------------------------


def events_call(stack: CloudStack, path: str, **live: str) -> tuple[int, Any]:
    reply = stack.events(event(path, **live))
    return reply["statusCode"], json_reply(reply) if reply.get("body") else None


@pytest.fixture
def viewer(stack: CloudStack, token: str, published: tuple[str, str]) -> dict[str, str]:
    """A viewer of the published dataset registered through the events function: the live
    values of the samples' viewer id and token."""
    status, body = events_call(
        stack, "events/register-viewer.json", token=token, dataset_id=published[1]
    )
    assert status == 201, body
    return {"viewer_id": body["viewerId"], "viewer_token": body["viewerToken"]}


def test_events_register_viewer(stack: CloudStack, token: str, published: tuple[str, str]) -> None:
    dataset_id = published[1]
    status, body = events_call(
        stack, "events/register-viewer.json", token=token, dataset_id=dataset_id
    )
    assert status == 201
    assert body["viewer_url"] == (
        f"{PUBLIC_BASE_URL}/e/{dataset_id}/?viewerId={body['viewerId']}"
        f"&viewerToken={body['viewerToken']}"
    )
    status, body = events_call(stack, "events/register-viewer.json", dataset_id=dataset_id)
    assert status == 401 and body["detail"] == "invalid access token"  # the sample's token


def test_events_post_event(stack: CloudStack, viewer: dict[str, str]) -> None:
    status, body = events_call(stack, "events/post-event.json", **viewer)
    assert (status, body) == (200, {"status": "ok", "delivered": True, "cursor": "1"})
    status, body = events_call(stack, "events/post-event.json")  # the sample's made-up viewer
    assert status == 404 and body["detail"] == "unknown or expired viewer"


def test_events_post_selection(stack: CloudStack, viewer: dict[str, str]) -> None:
    selection = event("events/post-selection.json", **viewer)
    assert selection["isBase64Encoded"] is True
    assert base64.b64decode(selection["body"]) == struct.pack("<3I", 1, 5, 9)
    reply = stack.events(selection)
    assert reply["statusCode"] == 200, reply
    body = events_call(stack, "events/get-events.json", **viewer)[1]
    assert body["events"] == [{"type": "selection", "cells": [1, 5, 9], "source": "lasso"}]


def sample_bundle() -> bytes:
    return base64.b64decode(event("events/post-session-bundle.json")["body"])


def test_events_post_session_bundle(stack: CloudStack, viewer: dict[str, str]) -> None:
    status, body = events_call(stack, "events/post-session-bundle.json", **viewer)
    assert (status, body) == (200, {"status": "ok", "delivered": True})
    key = f"sessions/{viewer['viewer_id']}/req-1.cellucid-session"
    stored = stack.s3.get_object(Bucket=stack.sessions_bucket, Key=key)
    assert stored["Body"].read() == sample_bundle()


def test_events_session_bundle_upload_url(stack: CloudStack, viewer: dict[str, str]) -> None:
    status, body = events_call(stack, "events/session-bundle-upload-url.json", **viewer)
    assert status == 200, body
    url = urlsplit(body["url"])
    assert stack.sessions_bucket in url.netloc + url.path
    assert url.path.endswith(f"sessions/{viewer['viewer_id']}/big-1.cellucid-session")
    query = parse_qs(url.query)
    assert {"content-length", "content-type", "host"} <= set(
        query["X-Amz-SignedHeaders"][0].split(";")
    )
    assert body["max_bytes"] == 8000417 and body["expires_in"] <= 900


def test_events_get_events(stack: CloudStack, viewer: dict[str, str]) -> None:
    with controlled_time() as clock:
        started = clock.now
        status, body = events_call(stack, "events/get-events.json", **viewer)  # wait=2
        waited = clock.now - started
    assert (status, body) == (200, {"events": [], "cursor": "0"})
    assert 2.0 <= waited <= 2.0 + POLL_INTERVAL  # the wait asked for, to the next poll
    events_call(stack, "events/post-event.json", **viewer)
    body = events_call(stack, "events/get-events.json", **viewer)[1]
    assert body == {
        "events": [{"type": "ready", "n_cells": 300, "dimensions": 2}],
        "cursor": "1",
    }


def test_events_list_session_bundles(stack: CloudStack, viewer: dict[str, str]) -> None:
    events_call(stack, "events/post-session-bundle.json", **viewer)
    status, body = events_call(stack, "events/list-session-bundles.json", **viewer)
    assert status == 200
    assert [(b["requestId"], b["version"]) for b in body["bundles"]] == [("req-1", 2)]


def test_events_get_session_bundle(stack: CloudStack, viewer: dict[str, str]) -> None:
    events_call(stack, "events/post-session-bundle.json", **viewer)
    reply = stack.events(event("events/get-session-bundle.json", **viewer))
    assert reply["statusCode"] == 302  # to a presigned GET: bundles may exceed a response
    headers = {k.lower(): v for k, v in reply["headers"].items()}
    assert headers["cache-control"] == "no-store"
    fetched = httpx.get(headers["location"])
    assert fetched.content == sample_bundle()
    disposition = fetched.headers["content-disposition"]
    assert disposition == 'attachment; filename="req-1.cellucid-session"'


# -- sessions --------------------------------------------------------------------------------


@pytest.mark.parametrize("valid", [True, False])
def test_sessions_s3_put(stack: CloudStack, viewer: dict[str, str], valid: bool) -> None:
    """A bundle PUT through an upload URL is recorded, or deleted with the reason."""
    key = f"sessions/{viewer['viewer_id']}/big-1.cellucid-session"
    bundle = make_bundle(2, chunks=[("highlights/cells/1", bytes(8_000_000), "none")])
    stack.s3.put_object(
        Bucket=stack.sessions_bucket, Key=key, Body=bundle if valid else bundle[:-1]
    )
    s3_event = event("sessions/s3-put.json", sessions_bucket=stack.sessions_bucket, **viewer)
    assert stack.sessions(s3_event) == {key: "recorded" if valid else "rejected"}
    body = events_call(stack, "events/get-events.json", **viewer)[1]
    (announced,) = body["events"]
    assert announced["type"] == "session_bundle" and announced["requestId"] == "big-1"
    listed = events_call(stack, "events/list-session-bundles.json", **viewer)[1]["bundles"]
    if valid:
        assert announced == {**announced, "status": "ok", "bytes": len(bundle)}
        assert [b["requestId"] for b in listed] == ["big-1"]
        assert stack.sessions(s3_event) == {key: "recorded"}  # S3 notified twice: one event
        assert len(events_call(stack, "events/get-events.json", **viewer)[1]["events"]) == 1
    else:
        assert announced["status"] == "rejected" and "trailing" not in announced["reason"]
        assert "chunk 0" in announced["reason"]
        assert listed == []
        listing = stack.s3.list_objects_v2(Bucket=stack.sessions_bucket, Prefix=key)
        assert listing["KeyCount"] == 0
        assert stack.sessions(s3_event) == {key: "gone"}


def test_every_sample_event_has_a_test() -> None:
    """Each file in events/ is named by some handler test (the export steps' in
    test_distributed_export.py)."""
    source = "".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    samples = {path.relative_to(EVENTS).as_posix() for path in EVENTS.rglob("*.json")}
    assert samples and {sample for sample in samples if f'"{sample}"' not in source} == set()
