"""The contract both event stores keep (SQLite locally, DynamoDB on AWS)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cellucid_cloud.catalog.dynamodb_repository import dynamodb_client, ensure_table
from cellucid_cloud.core.ports import EventStore
from cellucid_cloud.events.dynamodb_store import GAP_GRACE, DynamoDbEventStore
from cellucid_cloud.events.models import BundleRecord, Viewer
from cellucid_cloud.events.sqlite_store import SqliteEventStore
from cellucid_cloud.events.store import BundleQuota

NOW = int(time.time())


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    if request.param == "sqlite":
        yield SqliteEventStore(tmp_path / "events.sqlite3")
    else:
        client = dynamodb_client(endpoint_url=request.getfixturevalue("moto_server"))
        table = f"events-{uuid.uuid4().hex}"
        ensure_table(client, table)
        yield DynamoDbEventStore(table, client)
        client.delete_table(TableName=table)


def viewer(expires_in: int = 3600) -> Viewer:
    return Viewer(
        viewer_id=str(uuid.uuid4()),
        token_hash="0" * 64,
        curator_id="c",
        dataset_id="d",
        dataset_version_id="v",
        n_cells=100,
        created_at=datetime.now(UTC),
        expires_at=NOW + expires_in,
    )


def test_viewers_round_trip_and_expire(store: EventStore) -> None:
    live, dead = viewer(), viewer(expires_in=-1)
    store.put_viewer(live)
    store.put_viewer(dead)
    assert store.get_viewer(live.viewer_id, NOW) == live
    assert store.get_viewer(dead.viewer_id, NOW) is None  # stored, but past its expiry
    assert store.get_viewer(live.viewer_id, live.expires_at - 1) == live  # its last second
    assert store.get_viewer(live.viewer_id, live.expires_at) is None
    assert store.get_viewer("unknown", NOW) is None


def test_events_are_read_in_order_after_a_cursor(store: EventStore) -> None:
    v = viewer()
    store.put_viewer(v)
    assert store.append(v, [{"type": "ready", "i": 0}]) == 1
    assert store.append(v, [{"type": "hover", "i": i} for i in (1, 2, 3)]) == 4
    everything = store.read(v, 0, 100)
    assert [e.seq for e in everything] == [1, 2, 3, 4]
    assert [e.event["i"] for e in everything] == [0, 1, 2, 3]
    assert [e.seq for e in store.read(v, 2, 100)] == [3, 4]
    assert [e.seq for e in store.read(v, 0, 2)] == [1, 2]
    assert store.read(v, 4, 100) == []


def test_viewers_do_not_see_each_others_events(store: EventStore) -> None:
    a, b = viewer(), viewer()
    store.put_viewer(a)
    store.put_viewer(b)
    store.append(a, [{"type": "ready"}])
    assert store.read(b, 0, 10) == []


def test_concurrent_appends_lose_nothing(store: EventStore) -> None:
    v = viewer()
    store.put_viewer(v)
    barrier = threading.Barrier(4)

    def post(writer: int) -> None:
        barrier.wait()
        for i in range(25):
            store.append(v, [{"type": "click", "writer": writer, "i": i}])

    threads = [threading.Thread(target=post, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = store.read(v, 0, 1000)
    assert [e.seq for e in events] == list(range(1, 101))
    for writer in range(4):
        mine = [e.event["i"] for e in events if e.event["writer"] == writer]
        assert mine == list(range(25))  # each writer's events in the order it sent them


def test_bundles_are_listed_oldest_first(store: EventStore) -> None:
    v = viewer()
    store.put_viewer(v)
    for minute, request_id in ((2, "b"), (1, "a")):
        store.put_bundle(
            BundleRecord(
                viewer_id=v.viewer_id,
                request_id=request_id,
                key=f"sessions/{v.viewer_id}/{request_id}.cellucid-session",
                bytes=10,
                version=2,
                created_at=datetime(2026, 11, 23, 8, minute, tzinfo=UTC),
                expires_at=v.expires_at,
            )
        )
    assert [r.request_id for r in store.bundles(v)] == ["a", "b"]
    other = viewer()
    store.put_viewer(other)
    assert store.bundles(other) == []


QUOTA = BundleQuota(viewer_bundles=3, viewer_bytes=100, daily_bytes=150)


def test_bundle_quotas_count_per_viewer_and_per_day(store: EventStore) -> None:
    """Issue 15, finding 4: a viewer's bundles and bytes over its life, and the deployment's
    bytes per UTC day; a refused reservation counts nothing."""
    first, second = viewer(), viewer()
    store.put_viewer(first)
    store.put_viewer(second)
    day = NOW - NOW % 86400
    assert store.reserve_bundle(first, 40, QUOTA, day) is None
    assert store.reserve_bundle(first, 40, QUOTA, day + 10) is None
    refusal = store.reserve_bundle(first, 30, QUOTA, day)
    assert refusal is not None and "110 bytes, more than its 100" in refusal
    assert store.reserve_bundle(first, 20, QUOTA, day) is None  # the 30 counted nothing
    refusal = store.reserve_bundle(first, 1, QUOTA, day)
    assert refusal is not None and "its 3 session bundles" in refusal
    assert store.reserve_bundle(second, 50, QUOTA, day) is None  # 150 today
    refusal = store.reserve_bundle(second, 1, QUOTA, day + 86399)
    assert refusal is not None and "for today" in refusal
    assert store.reserve_bundle(second, 50, QUOTA, day + 86400) is None  # a new day
    refusal = store.reserve_bundle(second, 1, QUOTA, day + 86400)
    assert refusal is not None and "101 bytes" in refusal  # the refused 1 was not counted


def test_expiring_removes_a_viewers_bundles_with_it(store: EventStore) -> None:
    """SQLite removes the expired viewer's records and hands back its bundles' keys, for
    their blobs to go too; DynamoDB's TTL does that by itself (and the sessions bucket's
    lifecycle rule the blobs), so it hands back none. A live viewer keeps everything."""
    live, dying = viewer(), viewer(expires_in=60)
    for v in (live, dying):
        store.put_viewer(v)
        store.append(v, [{"type": "ready"}])
        store.put_bundle(
            BundleRecord(
                viewer_id=v.viewer_id,
                request_id="r",
                key=f"sessions/{v.viewer_id}/r.cellucid-session",
                bytes=10,
                version=2,
                created_at=datetime.now(UTC),
                expires_at=v.expires_at,
            )
        )
    keys = store.expire(dying.expires_at)
    assert keys in ([f"sessions/{dying.viewer_id}/r.cellucid-session"], [])
    if keys:
        assert store.bundles(dying) == [] and store.read(dying, 0, 10) == []
    assert [b.request_id for b in store.bundles(live)] == ["r"]
    assert len(store.read(live, 0, 10)) == 1
    assert store.get_viewer(live.viewer_id, dying.expires_at) == live


def test_dynamodb_reads_wait_at_a_gap_until_its_writer_has_surely_failed(
    moto_server: str,
) -> None:
    client = dynamodb_client(endpoint_url=moto_server)
    table = f"events-{uuid.uuid4().hex}"
    ensure_table(client, table)
    clock = [float(NOW)]
    store = DynamoDbEventStore(table, client, clock=lambda: clock[0])
    v = viewer()
    store.put_viewer(v)
    store.append(v, [{"type": "ready"}])
    # A writer took sequence number 2 and has not written it (yet); 3 is written.
    client.update_item(
        TableName=table,
        Key={"pk": {"S": f"viewer#{v.viewer_id}"}, "sk": {"S": "_"}},
        UpdateExpression="ADD last_seq :n",
        ExpressionAttributeValues={":n": {"N": "1"}},
    )
    store.append(v, [{"type": "click"}])
    assert [e.seq for e in store.read(v, 0, 10)] == [1]
    clock[0] += GAP_GRACE + 1
    assert [e.seq for e in store.read(v, 0, 10)] == [1, 3]
    client.delete_table(TableName=table)
