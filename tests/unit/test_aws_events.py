"""S3 event notifications in SQS bodies → the created objects the prepare function handles."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cellucid_cloud.aws.s3_events import CreatedObject, MalformedEventError, created_objects
from tests.cloud import EVENTS


def notification(*records: dict[str, Any]) -> str:
    return json.dumps({"Records": list(records)})


def record(key: str, event_name: str = "ObjectCreated:Put", etag: str = "abc") -> dict[str, Any]:
    obj = {"key": key, "size": 3} | ({"eTag": etag} if etag else {})
    return {"eventName": event_name, "s3": {"bucket": {"name": "uploads"}, "object": obj}}


def test_the_sample_event_names_its_object() -> None:
    sample = json.loads((EVENTS / "prepare/s3-put-via-sqs.json").read_text())
    assert created_objects(sample["Records"][0]["body"]) == [
        CreatedObject(
            "cellucid-uploads-123456789012",
            "5d1f0c2e-8a4b-4c39-9f61-2b7e3a9d0c11/9b2e7f40-3c1d-4e5a-8f6b-7a0c1d2e3f45.h5ad",
            "d41d8cd98f00b204e9800998ecf8427e",
            "0065F1A2B3C4D5E6F7",
            "2026-11-23T08:00:00.123Z",
        )
    ]


def test_the_same_bytes_put_again_later_are_another_upload() -> None:
    first = {**record("c1/a.h5ad"), "eventTime": "2026-01-01T00:00:00.000Z"}
    again = {**record("c1/a.h5ad"), "eventTime": "2026-01-01T00:05:00.000Z"}
    [one], [duplicate], [other] = (created_objects(notification(r)) for r in (first, first, again))
    assert one.identity() == duplicate.identity() != other.identity()
    sequenced = record("c1/a.h5ad")
    sequenced["s3"]["object"]["sequencer"] = "0055AED6DCD90281E5"
    [by_sequencer] = created_objects(notification({**sequenced, "eventTime": "2026-01-01"}))
    assert by_sequencer.put == "0055AED6DCD90281E5"


def test_s3_test_event_has_no_objects() -> None:
    sample = json.loads((EVENTS / "prepare/s3-test-event-via-sqs.json").read_text())
    assert created_objects(sample["Records"][0]["body"]) == []


@pytest.mark.parametrize(
    ("encoded", "key"),
    [
        ("c1/d+1%2Bx.h5ad", "c1/d 1+x.h5ad"),  # form encoding: + is a space, %2B a plus
        ("c1%2Fd1.zarr.zip", "c1/d1.zarr.zip"),  # some senders encode the slash too
        ("c1/d%C3%A9.h5ad", "c1/dé.h5ad"),
    ],
)
def test_keys_are_url_decoded(encoded: str, key: str) -> None:
    assert created_objects(notification(record(encoded))) == [CreatedObject("uploads", key, "abc")]


def test_quotes_around_the_etag_are_dropped_and_other_events_skipped() -> None:
    body = notification(
        record("c1/a.h5ad", etag='"abc-2"'),
        record("c1/b.h5ad", event_name="ObjectRemoved:Delete", etag=""),
        record("c1/c.h5ad", event_name="ObjectCreated:CompleteMultipartUpload"),
    )
    assert [(o.key, o.etag) for o in created_objects(body)] == [
        ("c1/a.h5ad", "abc-2"),
        ("c1/c.h5ad", "abc"),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"Message": "an SNS envelope"}', "no Records"),
        ('{"Records": {"a": 1}}', "no Records"),
        (notification({"eventName": "ObjectCreated:Put"}), "malformed S3 event record"),
        (notification(record("c1/a.h5ad", etag="")), "without an eTag"),
    ],
)
def test_anything_else_is_malformed(body: str, message: str) -> None:
    with pytest.raises(MalformedEventError, match=message):
        created_objects(body)
