"""The upload model on the AWS path (moto server, handlers in-process): the upload URL issued
is where an upload's identity begins; the newest accepted upload wins whatever the order and
number of S3 events; a redelivery after Powertools' idempotency record is gone (what a restart
is to ``up``) makes no new version; reasons name the curator's ids and file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import httpx
import pytest

from cellucid_cloud.catalog.dynamodb_repository import dynamodb_client
from tests.cloud import CloudStack, cloud_stack
from tests.export_data import make_adata
from tests.integration.test_cloud_pipeline import Curator, meta, new_dataset, upload_by_url


@pytest.fixture
def stack(moto_server: str) -> Iterator[CloudStack]:
    with cloud_stack(moto_server) as stack:
        yield stack


def h5ad(folder: Path, n_cells: int) -> bytes:
    path = folder / f"{n_cells}.h5ad"
    make_adata(n_cells=n_cells, n_genes=12, seed=n_cells).write_h5ad(path)
    return path.read_bytes()


def grant(curator: Curator, cid: str, did: str, size: int, name: str = "") -> dict[str, Any]:
    body = {"format": "h5ad", "size": size} | ({"file_name": name} if name else {})
    status, answer = curator.call("curation-upload-url", body, collection_id=cid, dataset_id=did)
    assert status == 200, answer
    return dict(answer)


def put(answer: dict[str, Any], data: bytes) -> None:
    assert httpx.put(answer["url"], content=data, headers=answer["headers"]).status_code == 200


def by_key(batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The SQS records of a batch by the object key their S3 event names (test event left out)."""
    found = {}
    for record in batch["Records"]:
        body = json.loads(record["body"])
        for s3_record in body.get("Records", []):
            found[unquote_plus(s3_record["s3"]["object"]["key"])] = record
    return found


def forget_idempotency(stack: CloudStack) -> None:
    """What a day does to Powertools' records: the next delivery is processed again."""
    client = dynamodb_client()
    for item in client.scan(TableName=stack.idempotency_table)["Items"]:
        client.delete_item(TableName=stack.idempotency_table, Key={"id": item["id"]})


def test_the_last_issued_upload_wins_whatever_order_its_events_come_in(
    stack: CloudStack, tmp_path: Path
) -> None:
    curator = Curator(stack)
    cid, did = new_dataset(curator)
    first = upload_by_url(curator, cid, did, h5ad(tmp_path, 41), "first.h5ad")
    assert stack.deliver(stack.receive(2)) == {"batchItemFailures": []}
    assert curator.call("curation-publish", collection_id=cid)[0] == 200
    status, revision = curator.call("curation-start-revision", collection_id=cid)
    assert status == 201, revision
    rid = revision["collection_id"]

    older_bytes, newer_bytes = h5ad(tmp_path, 42), h5ad(tmp_path, 43)
    older = grant(curator, rid, did, len(older_bytes), "older.h5ad")
    # From the moment its URL is issued, the revision reports this upload, not the published.
    reported = curator.dataset(rid, did)
    assert (reported["dataset_version_id"], reported["status"]) == (
        older["dataset_version_id"],
        "waiting",
    )
    newer = grant(curator, rid, did, len(newer_bytes), "newer.h5ad")
    assert curator.dataset(rid, did)["dataset_version_id"] == newer["dataset_version_id"]
    put(newer, newer_bytes)
    put(older, older_bytes)  # the older upload's file arrives last
    events = by_key(stack.receive(2))
    exported = stack.export_keys()

    # Its event is handled first, then the newer one's, then both again, in reverse.
    for key in (older["key"], newer["key"], newer["key"], older["key"]):
        assert stack.deliver({"Records": [events[key]]}) == {"batchItemFailures": []}
    done = curator.dataset(rid, did)
    assert done["dataset_version_id"] == newer["dataset_version_id"]
    assert (done["status"], done["n_cells"]) == ("ready", 43)
    new_prefixes = {k.split("/")[1] for k in stack.export_keys()} - {
        k.split("/")[1] for k in exported
    }
    assert new_prefixes == {newer["dataset_version_id"]}  # the older file was never read

    # Redelivered once Powertools has forgotten them: nothing is made again.
    versions = set(stack.catalog.version_for(rid).version.datasets.values())
    forget_idempotency(stack)
    for key in (newer["key"], older["key"]):
        assert stack.deliver({"Records": [events[key]]}) == {"batchItemFailures": []}
    assert set(stack.catalog.version_for(rid).version.datasets.values()) == versions
    assert curator.dataset(rid, did) == done
    assert {k.split("/")[1] for k in stack.export_keys()} - {
        k.split("/")[1] for k in exported
    } == new_prefixes

    assert meta(stack, did)[1]["dataset_version_id"] == first["dataset_version_id"]
    assert curator.call("curation-publish", collection_id=rid)[0] == 200
    assert meta(stack, did)[1]["dataset_version_id"] == newer["dataset_version_id"]


def published_dataset(stack: CloudStack, tmp_path: Path) -> tuple[Curator, str, str]:
    """A curator and their published collection's one ready dataset (30 cells)."""
    curator = Curator(stack)
    cid, did = new_dataset(curator)
    upload_by_url(curator, cid, did, h5ad(tmp_path, 30))
    assert stack.deliver(stack.receive(2)) == {"batchItemFailures": []}
    assert curator.call("curation-publish", collection_id=cid)[0] == 200
    return curator, cid, did


def test_a_refused_upload_url_is_issued_for_nothing_and_changes_nothing(
    stack: CloudStack, tmp_path: Path
) -> None:
    curator, cid, did = published_dataset(stack, tmp_path)
    before = curator.dataset(cid, did)
    status, refused = curator.call(
        "curation-upload-url", {"size": 10}, collection_id=cid, dataset_id=did
    )
    assert status == 409 and "start a revision" in refused["detail"]
    status, refused = curator.call(
        "curation-upload-url", {"size": 10**12}, collection_id=cid, dataset_id=did
    )
    assert status == 422 and "too large" in refused["detail"]
    assert curator.dataset(cid, did) == before


def test_a_drop_into_a_published_collection_shows_on_its_dataset_as_refused(
    stack: CloudStack, tmp_path: Path
) -> None:
    curator, cid, did = published_dataset(stack, tmp_path)
    before = curator.dataset(cid, did)
    stack.s3.put_object(
        Bucket=stack.uploads_bucket, Key=f"{cid}/{did}.h5ad", Body=h5ad(tmp_path, 31)
    )
    assert stack.deliver(stack.receive(1)) == {"batchItemFailures": []}
    after = curator.dataset(cid, did)
    refused = after.pop("refused_upload")
    assert after == {k: v for k, v in before.items() if k != "refused_upload"}
    assert refused["reason"] == (
        f"{cid}/{did}.h5ad: this collection is published; start a revision before uploading"
    )


def test_reasons_name_the_curators_file_and_ids_never_a_version_id(
    stack: CloudStack,
) -> None:
    curator = Curator(stack)
    cid, did = new_dataset(curator)
    junk = b"this is not an HDF5 file"
    put(grant(curator, cid, did, len(junk), "broken.h5ad"), junk)
    assert stack.deliver(stack.receive(2)) == {"batchItemFailures": []}
    named = curator.dataset(cid, did)
    assert named["status"] == "failed"
    assert named["reason"].startswith("broken.h5ad: not an HDF5 AnnData file"), named
    put(grant(curator, cid, did, len(junk)), junk)  # no file name given
    assert stack.deliver(stack.receive(1)) == {"batchItemFailures": []}
    unnamed = curator.dataset(cid, did)
    assert unnamed["reason"].startswith(f"{cid}/{did}.h5ad: not an HDF5 AnnData file")
    for document in (named, unnamed):
        assert document["collection_version_id"] not in document["reason"]


def test_changed_export_options_process_the_upload_again(stack: CloudStack, tmp_path: Path) -> None:
    curator = Curator(stack)
    cid, did = new_dataset(curator)
    upload_by_url(curator, cid, did, h5ad(tmp_path, 50))
    assert stack.deliver(stack.receive(2)) == {"batchItemFailures": []}
    ready = curator.dataset(cid, did)
    assert ready["status"] == "ready", ready

    status, changed = curator.call(  # the sample sets obs_keys ["cell_type"]
        "curation-set-export-options", collection_id=cid, dataset_id=did
    )
    assert status == 200, changed
    assert changed["dataset_version_id"] != ready["dataset_version_id"]
    assert changed["status"] == "waiting"
    batch = stack.receive(1)  # the prepare queue has the upload to process again
    assert json.loads(batch["Records"][0]["body"])["reprocess"]["key"].startswith(f"{cid}/")
    assert stack.deliver(batch) == {"batchItemFailures": []}
    redone = curator.dataset(cid, did)
    assert redone["dataset_version_id"] == changed["dataset_version_id"]
    assert redone["status"] == "ready", redone
    prefix = f"exports/{redone['dataset_version_id']}/dataset_identity.json"
    identity = json.load(stack.s3.get_object(Bucket=stack.exports_bucket, Key=prefix)["Body"])
    assert identity["stats"]["n_obs_fields"] == 1
    assert stack.deliver(batch) == {"batchItemFailures": []}  # delivered again: nothing new
    assert curator.dataset(cid, did) == redone
