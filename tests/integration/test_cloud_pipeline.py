"""The cloud pipeline end to end on a moto server: upload → S3 notification → SQS → prepare →
export in the exports bucket → the meta function answers meta lookups with it (its handler,
given the HTTP API v2 events of ``events/meta``).

Everything AWS does between the steps is real moto behaviour (the bucket notification puts the
event in the queue); only the Lambda runtime is replaced by calling the handlers in-process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cellucid_cloud.aws.links import SqsLinkIngest
from cellucid_cloud.catalog.dynamodb_repository import dynamodb_client
from cellucid_cloud.catalog.models import DatasetStatus, DatasetVersion, new_id
from cellucid_cloud.storage.object_store import EXPORT_CACHE_CONTROL
from tests.cloud import (
    PUBLIC_BASE_URL,
    ROOT,
    CloudStack,
    cloud_stack,
    event,
    json_reply,
    reset_function_caches,
    with_json_body,
)
from tests.export_data import make_adata
from tests.file_server import file_server

CONTACT = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.org"}


@pytest.fixture
def stack(moto_server: str) -> Iterator[CloudStack]:
    with cloud_stack(moto_server) as stack:
        yield stack


@pytest.fixture(scope="module")
def h5ad(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("h5ad") / "lung.h5ad"
    make_adata(n_cells=300, n_genes=40).write_h5ad(path)
    return path.read_bytes()


class Curator:
    """A curator driving the API function with HTTP API v2 events from ``events/api``."""

    def __init__(self, stack: CloudStack) -> None:
        self.stack = stack
        api_key = stack.auth.create_api_key("curator-cloud", "pipeline test")
        reply = stack.api(event("api/curation-token.json", api_key=api_key))
        assert reply["statusCode"] == 200, reply
        self.token = json_reply(reply)["access_token"]

    def call(self, name: str, body: Any = None, **ids: str) -> tuple[int, Any]:
        http_event = event(f"api/{name}.json", token=self.token, **ids)
        if body is not None:
            with_json_body(http_event, body)
        reply = self.stack.api(http_event)
        return reply["statusCode"], json_reply(reply) if reply.get("body") else None

    def dataset(self, collection_id: str, dataset_id: str) -> dict[str, Any]:
        status, document = self.call(
            "curation-get-dataset", collection_id=collection_id, dataset_id=dataset_id
        )
        assert status == 200, document
        return dict(document)


def meta(stack: CloudStack, dataset_id: str) -> tuple[int, dict[str, Any]]:
    reply = stack.meta(event("meta/meta.json", dataset_id=dataset_id))
    return reply["statusCode"], json_reply(reply)


def new_dataset(curator: Curator) -> tuple[str, str]:
    status, created = curator.call("curation-create-collection", {"name": "Lung atlas", **CONTACT})
    assert status == 201, created
    collection_id = created["collection_id"]
    status, created = curator.call(
        "curation-create-dataset", {"name": "Lung"}, collection_id=collection_id
    )
    assert status == 201, created
    return collection_id, created["dataset_id"]


def ready_dataset(stack: CloudStack, curator: Curator, h5ad: bytes) -> tuple[str, str, str]:
    """A dataset made ready by a direct upload: (collection id, dataset id, version id)."""
    collection_id, dataset_id = new_dataset(curator)
    stack.s3.put_object(
        Bucket=stack.uploads_bucket, Key=f"{collection_id}/{dataset_id}.h5ad", Body=h5ad
    )
    assert stack.deliver(stack.receive(2)) == {"batchItemFailures": []}
    document = curator.dataset(collection_id, dataset_id)
    assert document["status"] == "ready", document
    return collection_id, dataset_id, document["dataset_version_id"]


def upload_by_url(
    curator: Curator, collection_id: str, dataset_id: str, data: bytes, name: str = "lung.h5ad"
) -> dict[str, Any]:
    """Ask for an upload URL and PUT ``data`` to it; the grant."""
    status, grant = curator.call(
        "curation-upload-url",
        {"format": "h5ad", "size": len(data), "file_name": name},
        collection_id=collection_id,
        dataset_id=dataset_id,
    )
    assert status == 200, grant
    assert httpx.put(grant["url"], content=data, headers=grant["headers"]).status_code == 200
    return dict(grant)


def test_an_upload_url_put_becomes_an_export_that_meta_answers(
    stack: CloudStack, h5ad: bytes
) -> None:
    curator = Curator(stack)
    collection_id, dataset_id = new_dataset(curator)
    status, grant = curator.call(
        "curation-upload-url",
        {"format": "h5ad", "size": len(h5ad)},
        collection_id=collection_id,
        dataset_id=dataset_id,
    )
    assert status == 200, grant
    assert httpx.put(grant["url"], content=h5ad, headers=grant["headers"]).status_code == 200

    batch = stack.receive(2)  # S3's test event (sent when notifications were set up), the PUT
    bodies = [json.loads(record["body"]) for record in batch["Records"]]
    assert bodies[0]["Event"] == "s3:TestEvent"
    assert bodies[1]["Records"][0]["eventName"] == "ObjectCreated:Put"
    assert stack.deliver(batch) == {"batchItemFailures": []}

    document = curator.dataset(collection_id, dataset_id)
    assert document["status"] == "ready", document
    version_id = document["dataset_version_id"]
    prefix = f"exports/{version_id}/"
    keys = stack.export_keys()
    assert keys and all(key.startswith(prefix) for key in keys)
    identity_key = prefix + "dataset_identity.json"
    identity = stack.s3.get_object(Bucket=stack.exports_bucket, Key=identity_key)
    assert identity["ContentType"] == "application/json"
    assert identity["CacheControl"] == EXPORT_CACHE_CONTROL
    assert json.load(identity["Body"])["stats"]["n_cells"] == 300
    gene = stack.s3.head_object(Bucket=stack.exports_bucket, Key=prefix + "var/0.values.u8.gz")
    assert gene["ContentType"] == "application/octet-stream"
    assert gene["CacheControl"] == EXPORT_CACHE_CONTROL
    assert "ContentEncoding" not in gene

    status, answer = meta(stack, dataset_id)
    assert status == 200, answer
    status, collection = curator.call("curation-get-collection", collection_id=collection_id)
    assert status == 200, collection
    assert answer == {
        "dataset_id": dataset_id,
        "dataset_version_id": version_id,
        # A private answer names the draft by its own (private) id, as the portal does.
        "collection_id": collection["collection_version_id"],
        "collection_visibility": "PRIVATE",
        "explorer_url": f"{PUBLIC_BASE_URL}/e/{dataset_id}/",
        "explorer_s3_uri": f"s3://{stack.exports_bucket}/{prefix}",
        "s3_uri": f"s3://{stack.exports_bucket}/{prefix}",
        "export_url": f"{PUBLIC_BASE_URL}/{prefix}",
        "status": "ready",
        "reason": None,
        "tombstoned": False,
    }


def test_the_same_event_delivered_twice_gives_one_export(stack: CloudStack, h5ad: bytes) -> None:
    curator = Curator(stack)
    collection_id, dataset_id = new_dataset(curator)
    key = f"{collection_id}/{dataset_id}.h5ad"
    stack.s3.put_object(Bucket=stack.uploads_bucket, Key=key, Body=h5ad)
    batch = stack.receive(2)
    assert stack.prepare(batch) == {"batchItemFailures": []}
    exported = stack.export_keys()
    assert stack.deliver(batch) == {"batchItemFailures": []}

    assert stack.export_keys() == exported
    assert len({key.split("/")[1] for key in exported}) == 1
    version_id = curator.dataset(collection_id, dataset_id)["dataset_version_id"]
    assert exported[0].startswith(f"exports/{version_id}/")
    remembered = _idempotency_items(stack)  # keyed on the upload's bucket, key and ETag
    assert len(remembered) == 1 and remembered[0]["status"]["S"] == "COMPLETED"
    assert json.loads(remembered[0]["data"]["S"])["version_id"] == version_id


def _idempotency_items(stack: CloudStack) -> list[Any]:
    return list(dynamodb_client().scan(TableName=stack.idempotency_table)["Items"])


def test_a_corrupt_file_fails_with_its_reason_and_the_previous_version_still_resolves(
    stack: CloudStack, h5ad: bytes
) -> None:
    curator = Curator(stack)
    collection_id, dataset_id, good_version = ready_dataset(stack, curator, h5ad)
    key = f"{collection_id}/{dataset_id}.h5ad"
    stack.s3.put_object(Bucket=stack.uploads_bucket, Key=key, Body=b"this is not an HDF5 file")
    assert stack.deliver(stack.receive(1)) == {"batchItemFailures": []}

    document = curator.dataset(collection_id, dataset_id)
    assert document["status"] == "failed"
    assert document["dataset_version_id"] != good_version
    assert document["reason"].startswith(f"{key}: not an HDF5 AnnData file")
    status, answer = meta(stack, dataset_id)
    assert status == 200
    assert answer["dataset_version_id"] == good_version
    assert answer["export_url"] == f"{PUBLIC_BASE_URL}/exports/{good_version}/"
    assert {key.split("/")[1] for key in stack.export_keys()} == {good_version}


def test_a_malformed_record_alone_is_reported_for_retry(stack: CloudStack) -> None:
    batch = stack.receive(1)  # S3's test event
    malformed = {**batch["Records"][0], "messageId": "malformed-1", "body": "not json"}
    no_records = {**batch["Records"][0], "messageId": "malformed-2", "body": '{"Records": 3}'}
    batch["Records"] += [malformed, no_records]
    assert stack.prepare(batch) == {
        "batchItemFailures": [{"itemIdentifier": "malformed-1"}, {"itemIdentifier": "malformed-2"}]
    }


def test_a_crash_after_claiming_fails_the_version_and_asks_sqs_to_retry(
    stack: CloudStack, h5ad: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    curator = Curator(stack)
    collection_id, dataset_id = new_dataset(curator)
    stack.s3.put_object(
        Bucket=stack.uploads_bucket, Key=f"{collection_id}/{dataset_id}.h5ad", Body=h5ad
    )
    batch = stack.receive(2)
    monkeypatch.setenv("EXPORTS_BUCKET", "no-such-exports-bucket")
    reset_function_caches()
    put_message = batch["Records"][1]["messageId"]
    assert stack.prepare(batch) == {"batchItemFailures": [{"itemIdentifier": put_message}]}

    document = curator.dataset(collection_id, dataset_id)
    assert document["status"] == "failed"
    assert document["reason"].startswith("internal error while processing")
    assert _idempotency_items(stack) == []  # a failed attempt is not remembered: SQS retries


def test_an_event_for_a_version_still_processing_is_retried_later(
    stack: CloudStack, h5ad: bytes
) -> None:
    curator = Curator(stack)
    collection_id, dataset_id = new_dataset(curator)
    grant = upload_by_url(curator, collection_id, dataset_id, h5ad)
    batch = stack.receive(2)
    version_id = grant["dataset_version_id"]
    assert stack.catalog.start_processing(version_id) is not None  # another worker

    put_message = batch["Records"][1]["messageId"]
    assert stack.prepare(batch) == {"batchItemFailures": [{"itemIdentifier": put_message}]}
    stored = stack.repository.get(DatasetVersion, version_id)
    assert stored is not None and stored.status is DatasetStatus.PROCESSING


def test_an_object_deleted_before_processing_fails_with_the_reason(
    stack: CloudStack, h5ad: bytes
) -> None:
    curator = Curator(stack)
    collection_id, dataset_id = new_dataset(curator)
    key = f"{collection_id}/{dataset_id}.h5ad"
    stack.s3.put_object(Bucket=stack.uploads_bucket, Key=key, Body=h5ad)
    stack.s3.delete_object(Bucket=stack.uploads_bucket, Key=key)
    assert stack.deliver(stack.receive(2)) == {"batchItemFailures": []}
    document = curator.dataset(collection_id, dataset_id)
    assert document["status"] == "failed"
    assert document["reason"] == f"{key}: the file was deleted before it was read"


def test_a_link_is_downloaded_by_prepare_then_processed_as_an_upload(
    stack: CloudStack, h5ad: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """API → the prepare queue → prepare downloads into the uploads bucket → its notification
    → prepare processes the file. The file server is on 127.0.0.1, which only a deployment
    that allows private links may fetch (tests do, through the setting)."""
    monkeypatch.setenv("ALLOW_PRIVATE_LINKS", "true")
    reset_function_caches()
    (tmp_path / "lung.h5ad").write_bytes(h5ad)
    curator = Curator(stack)
    collection_id, dataset_id = new_dataset(curator)
    status, created = curator.call(
        "curation-create-dataset", {"name": "Gone"}, collection_id=collection_id
    )
    gone_id = created["dataset_id"]
    with file_server(tmp_path) as files:
        for target, name in ((dataset_id, "lung.h5ad"), (gone_id, "gone.h5ad")):
            status, accepted = curator.call(
                "curation-ingest-link",
                {"link": f"{files}/{name}"},
                collection_id=collection_id,
                dataset_id=target,
            )
            assert status == 202, accepted
        batch = stack.receive(3)  # S3's test event, then the two link requests
        assert stack.deliver(batch) == {"batchItemFailures": []}
    assert stack.deliver(stack.receive(1)) == {"batchItemFailures": []}  # the downloaded file

    document = curator.dataset(collection_id, dataset_id)
    assert document["status"] == "ready", document
    assert document["n_cells"] == 300
    failed = curator.dataset(collection_id, gone_id)
    assert failed["status"] == "failed"
    assert failed["reason"] == f"the link answered HTTP 404 ({files}/gone.h5ad)"


def test_links_to_private_addresses_are_refused_by_default(
    stack: CloudStack, h5ad: bytes, tmp_path: Path
) -> None:
    """The API refuses them; and should one be queued anyway (a name that resolved elsewhere
    a moment before), prepare refuses it too, and the version fails with the reason."""
    (tmp_path / "lung.h5ad").write_bytes(h5ad)
    curator = Curator(stack)
    collection_id, dataset_id = new_dataset(curator)
    with file_server(tmp_path) as files:
        link = f"{files}/lung.h5ad"
        status, refused = curator.call(
            "curation-ingest-link",
            {"link": link},
            collection_id=collection_id,
            dataset_id=dataset_id,
        )
        assert status == 422 and "non-public address" in refused["detail"]
        upload, _ = stack.catalog.accept_upload(
            "curator-cloud",
            collection_id,
            dataset_id,
            upload_id=new_id(),
            suffix=".h5ad",
            file_name=link,
            expires_in=3600,
        )
        SqsLinkIngest(stack.queue_url, stack.sqs).ingest(link, upload.object_key)
        assert stack.deliver(stack.receive(2)) == {"batchItemFailures": []}
    document = curator.dataset(collection_id, dataset_id)
    assert document["status"] == "failed"
    assert "non-public address" in document["reason"]
    listing = stack.s3.list_objects_v2(Bucket=stack.uploads_bucket)
    assert listing["KeyCount"] == 0


def test_the_api_function_does_not_import_the_export_stack() -> None:
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('api_app', {str(ROOT)!r} + "
        "'/functions/api/app.py')\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "heavy = {'anndata', 'h5py', 'zarr', 'scipy', 'pandas',\n"
        "'cellucid_cloud.export.prepare', 'cellucid_cloud.export.outline'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    env = {"POWERTOOLS_TRACE_DISABLED": "true", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(ROOT),
        env=env,
    )
    assert result.stdout.strip() == "[]", result.stderr
