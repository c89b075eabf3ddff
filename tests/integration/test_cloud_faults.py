"""The cloud pipeline (moto server, handlers in-process) under hostile uploads and faults:
a subset of the hostile corpus; an exception after N stored files, then SQS's redelivery;
duplicate and out-of-order S3 events; throttling and 5xx from S3 and DynamoDB, injected into
botocore (tests/faults.py), retried with backoff, and a clear failure past the retry budget."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cloud import PUBLIC_BASE_URL, CloudStack, cloud_stack, event
from tests.faults import FailAfter, dynamodb_error, injected, s3_error
from tests.hostile_uploads import CASES, HostileUpload, reason_problem, write
from tests.hostile_uploads import good_adata as make_good
from tests.integration.test_cloud_pipeline import Curator, meta, new_dataset, ready_dataset

CLOUD_CASES = (
    "empty-file",
    "not-hdf5",
    "hdf5-not-anndata",
    "nan-embedding",
    "sparse-index-out-of-range",
    "huge-declared-cells",
    "hdf5-external-link",
    "zarr-path-traversal",
    "zarr-zip-bomb",
    "zarr-huge-declared-embedding",
)
THROTTLED = "Rate of requests exceeds the allowed throughput."
S3_500 = "We encountered an internal error. Please try again."


@pytest.fixture(scope="module")
def h5ad(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("good") / "good.h5ad"
    make_good().write_h5ad(path)
    return path.read_bytes()


@dataclass
class Revised:
    """A published dataset whose collection has an open revision."""

    stack: CloudStack
    curator: Curator
    collection_id: str
    revision_id: str
    dataset_id: str
    good_version: str

    def put(self, data: bytes, suffix: str = ".h5ad") -> dict[str, Any]:
        """A direct upload, its S3 event through prepare; the dataset's state in the revision."""
        key = f"{self.collection_id}/{self.dataset_id}{suffix}"
        self.stack.s3.put_object(Bucket=self.stack.uploads_bucket, Key=key, Body=data)
        assert self.stack.deliver(self.stack.receive(1)) == {"batchItemFailures": []}
        return self.curator.dataset(self.revision_id, self.dataset_id)

    def assert_still_published(self) -> None:
        status, answer = meta(self.stack, self.dataset_id)
        assert status == 200, answer
        assert answer["dataset_version_id"] == self.good_version
        assert answer["export_url"] == f"{PUBLIC_BASE_URL}/exports/{self.good_version}/"
        self.stack.s3.head_object(
            Bucket=self.stack.exports_bucket,
            Key=f"exports/{self.good_version}/dataset_identity.json",
        )


@pytest.fixture(scope="module")
def revised(moto_server: str, h5ad: bytes) -> Iterator[Revised]:
    with cloud_stack(moto_server) as stack:
        curator = Curator(stack)
        cid, did, good = ready_dataset(stack, curator, h5ad)
        status, published = curator.call("curation-publish", collection_id=cid)
        assert status == 200, published
        status, revision = curator.call("curation-start-revision", collection_id=cid)
        assert status == 201, revision
        yield Revised(stack, curator, cid, revision["collection_id"], did, good)


@pytest.fixture
def stack(moto_server: str) -> Iterator[CloudStack]:
    with cloud_stack(moto_server) as stack:
        yield stack


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.name in CLOUD_CASES], ids=lambda c: str(c.name)
)
def test_a_hostile_upload_fails_cleanly_in_the_cloud(
    case: HostileUpload, revised: Revised, tmp_path: Path
) -> None:
    document = revised.put(write(case, tmp_path).read_bytes(), case.suffix)
    assert document["status"] == "failed", document
    assert document["export_url"] is None
    problem = reason_problem(case, document["reason"], "/tmp/cellucid-upload-")
    assert problem is None, problem
    revised.assert_still_published()
    version = document["dataset_version_id"]
    assert not [k for k in revised.stack.export_keys() if k.startswith(f"exports/{version}")]


def test_after_the_cloud_corpus_a_good_file_is_processed(revised: Revised, tmp_path: Path) -> None:
    adata = make_good()
    adata.obs["again"] = 2.0
    document = revised.put(_h5ad_bytes(adata, tmp_path))
    assert document["status"] == "ready", document
    revised.assert_still_published()  # ready inside the revision, not published


def _h5ad_bytes(adata: Any, folder: Path) -> bytes:
    path = folder / f"{adata.n_obs}.h5ad"
    adata.write_h5ad(path)
    return path.read_bytes()


def _uploaded(stack: CloudStack, h5ad: bytes) -> tuple[Curator, str, str, dict[str, Any]]:
    """A new dataset, its file PUT straight into the uploads bucket, and the queue's next two
    messages as one SQS batch (the batch these tests deliver to the prepare function)."""
    curator = Curator(stack)
    cid, did = new_dataset(curator)
    stack.s3.put_object(Bucket=stack.uploads_bucket, Key=f"{cid}/{did}.h5ad", Body=h5ad)
    return curator, cid, did, stack.receive(2)


def test_an_exception_after_n_stored_files_removes_them(stack: CloudStack, h5ad: bytes) -> None:
    """An attempt whose storing fails removes what it stored: nothing points to it."""
    curator, cid, did, batch = _uploaded(stack, h5ad)
    failing = FailAfter(5)
    with injected(("before-call.s3.PutObject", failing)):
        response = stack.deliver(batch)
    put_message = batch["Records"][1]["messageId"]
    assert response == {"batchItemFailures": [{"itemIdentifier": put_message}]}
    assert failing.failed > 0
    document = curator.dataset(cid, did)
    assert document["status"] == "failed" and document["export_url"] is None
    assert document["reason"].startswith("internal error while processing: injected:")
    assert stack.export_keys() == []


def test_a_dead_attempts_partial_prefix_goes_when_the_retry_is_claimed(
    stack: CloudStack, h5ad: bytes
) -> None:
    """An attempt that could not clean up (as one killed while storing) leaves a partial
    prefix nothing points to; the next claim stores on a fresh prefix and removes it."""
    curator, cid, did, batch = _uploaded(stack, h5ad)
    failing, no_delete = FailAfter(5), FailAfter(0)
    with injected(
        ("before-call.s3.PutObject", failing), ("before-call.s3.DeleteObjects", no_delete)
    ):
        response = stack.deliver(batch)
    put_message = batch["Records"][1]["messageId"]
    assert response == {"batchItemFailures": [{"itemIdentifier": put_message}]}
    assert failing.failed > 0 and no_delete.failed > 0

    document = curator.dataset(cid, did)
    version = document["dataset_version_id"]
    assert document["status"] == "failed" and document["export_url"] is None
    assert document["reason"].startswith("internal error while processing: injected:")
    partial = stack.export_keys()
    assert 0 < len(partial) <= 5 and all(k.startswith(f"exports/{version}/") for k in partial)
    assert meta(stack, did)[1]["export_url"] is None  # nothing points at the partial prefix

    _redeliver(stack, batch["Records"][1])
    document = curator.dataset(cid, did)
    assert document["status"] == "ready" and document["dataset_version_id"] == version
    retried = f"exports/{version}-2/"
    assert meta(stack, did)[1]["export_url"] == f"{PUBLIC_BASE_URL}/{retried}"
    keys = stack.export_keys()
    assert [k for k in keys if k.startswith(f"exports/{version}/")] == []  # removed
    written = [k.removeprefix(retried) for k in keys if k.startswith(retried)]
    assert "dataset_identity.json" in written
    assert len([k for k in written if k.startswith("var/")]) == make_good().n_vars
    assert len(keys) == len(written)


def test_duplicate_and_out_of_order_events_give_one_export_per_object_version(
    stack: CloudStack, tmp_path: Path
) -> None:
    curator = Curator(stack)
    cid, did = new_dataset(curator)
    key = f"{cid}/{did}.h5ad"
    first, second = (_h5ad_bytes(make_good()[:n].copy(), tmp_path) for n in (40, 50))
    stack.s3.put_object(Bucket=stack.uploads_bucket, Key=key, Body=first)
    first_event = stack.receive(2)
    stack.s3.put_object(Bucket=stack.uploads_bucket, Key=key, Body=second)
    second_event = stack.receive(1)

    assert stack.prepare(second_event) == {"batchItemFailures": []}  # the newer event first
    assert stack.prepare(first_event) == {"batchItemFailures": []}  # the older one, late
    assert stack.prepare(second_event) == {"batchItemFailures": []}  # and a duplicate
    document = curator.dataset(cid, did)
    assert document["status"] == "ready" and document["n_cells"] == 50
    assert _prefixes(stack) == {document["dataset_version_id"]}

    # The curator puts the first file back: a new object version with the first one's ETag.
    stack.s3.put_object(Bucket=stack.uploads_bucket, Key=key, Body=first)
    assert stack.deliver(stack.receive(1)) == {"batchItemFailures": []}
    again = curator.dataset(cid, did)
    assert again["status"] == "ready" and again["n_cells"] == 40
    assert _prefixes(stack) == {document["dataset_version_id"], again["dataset_version_id"]}


def _prefixes(stack: CloudStack) -> set[str]:
    return {key.split("/")[1] for key in stack.export_keys()}


def test_throttling_and_500s_from_s3_and_dynamodb_are_retried(
    stack: CloudStack, h5ad: bytes
) -> None:
    curator, cid, did, batch = _uploaded(stack, h5ad)
    faults = {
        "before-send.s3.GetObject": s3_error(500, "InternalError", S3_500, times=2),
        "before-send.s3.PutObject": s3_error(503, "SlowDown", "Reduce your request rate.", 4),
        "before-send.dynamodb.GetItem": dynamodb_error(
            500, "InternalServerError", "Internal server error", 2, when=stack.catalog_table
        ),
        "before-send.dynamodb.TransactWriteItems": dynamodb_error(
            400, "ThrottlingException", THROTTLED, 2, when=stack.catalog_table
        ),
    }
    with injected(*faults.items()):
        assert stack.deliver(batch) == {"batchItemFailures": []}
    assert {name: fault.sent for name, fault in faults.items()} == {
        name: fault.times for name, fault in faults.items()
    }
    document = curator.dataset(cid, did)
    assert document["status"] == "ready", document


def test_s3_failing_past_the_retry_budget_fails_the_version_clearly_then_recovers(
    stack: CloudStack, h5ad: bytes
) -> None:
    curator, cid, did, batch = _uploaded(stack, h5ad)
    down = s3_error(500, "InternalError", S3_500, times=10**6)
    with injected(("before-send.s3.PutObject", down)):
        response = stack.deliver(batch)
    assert response == {"batchItemFailures": [{"itemIdentifier": batch["Records"][1]["messageId"]}]}
    assert down.sent >= 3
    document = curator.dataset(cid, did)
    assert document["status"] == "failed"
    # botocore names the retries it made ("(reached max retries: 2)") unless its shared retry
    # quota ran dry first, which depends on how many parallel uploads failed before this one.
    assert re.fullmatch(
        re.escape(
            "internal error while processing: An error occurred (InternalError) when calling "
            "the PutObject operation"
        )
        + r"( \(reached max retries: 2\))?: "
        + re.escape(S3_500),
        document["reason"],
    ), document["reason"]
    _redeliver(stack, batch["Records"][1])
    assert curator.dataset(cid, did)["status"] == "ready"


def test_dynamodb_failing_past_the_retry_budget_leaves_the_upload_for_redelivery(
    stack: CloudStack, h5ad: bytes
) -> None:
    curator, cid, did, batch = _uploaded(stack, h5ad)
    down = dynamodb_error(400, "ThrottlingException", THROTTLED, 10**6, when=stack.catalog_table)
    with injected(("before-send.dynamodb.GetItem", down)):
        response = stack.deliver(batch)
    put = batch["Records"][1]
    assert response == {"batchItemFailures": [{"itemIdentifier": put["messageId"]}]}
    assert down.sent >= 3
    assert curator.dataset(cid, did)["status"] == "waiting"  # nothing recorded, nothing lost
    _redeliver(stack, put)
    assert curator.dataset(cid, did)["status"] == "ready"


def _redeliver(stack: CloudStack, record: dict[str, Any]) -> None:
    """What SQS does once the visibility timeout of a message reported as failed runs out."""
    stack.sqs.change_message_visibility(
        QueueUrl=stack.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
    )
    assert stack.deliver(stack.receive(1)) == {"batchItemFailures": []}


@pytest.mark.parametrize(
    ("function", "sample"),
    [
        ("api", "api/curation-token.json"),
        ("meta", "meta/meta.json"),
        ("events", "events/get-events.json"),
    ],
)
def test_the_functions_answer_a_json_503_while_dynamodb_is_down(
    stack: CloudStack, function: str, sample: str
) -> None:
    down = dynamodb_error(400, "ThrottlingException", THROTTLED, 10**6, when=stack.catalog_table)
    with injected(("before-send.dynamodb.GetItem", down)):
        reply = getattr(stack, function)(event(sample))
    assert down.sent >= 3  # botocore retried before giving up
    assert reply["statusCode"] == 503, reply
    headers = {name.lower(): value for name, value in reply["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["retry-after"] == "5"
    assert "unavailable" in json.loads(reply["body"])["detail"]
    healthy = getattr(stack, function)(event(sample))
    assert healthy["statusCode"] in (200, 401, 404), healthy  # served again once it is back
