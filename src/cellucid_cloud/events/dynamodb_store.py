"""DynamoDB adapter of the event store, in the catalog's table (one viewer, one partition).

Items under ``pk = "viewer#<id>"``: the viewer (``sk = "_"``, with its event counter
``last_seq``), its events (``sk = "event#<seq, 12 digits>"``) and its bundles
(``sk = "bundle#<request id>"``); all carry ``expires_at``, the table's TTL attribute.

Appending takes sequence numbers from the counter (one atomic ``ADD``), then writes the
events. Two writers can finish out of order, so a reader may briefly see event 8 before event
7 is written: reads return the contiguous run after the cursor and stop at a gap, unless the
event after the gap is older than :data:`GAP_GRACE` seconds (the writer of the missing one
failed, and its client was told so), so nothing is skipped that could still arrive.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cellucid_cloud.aws_calls import unavailable_on_aws_errors, until_processed
from cellucid_cloud.core.ports import Timer
from cellucid_cloud.events.models import BundleRecord, StoredEvent, Viewer
from cellucid_cloud.events.store import BundleQuota, quota_refusal
from cellucid_cloud.events.wire import event_json

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

__all__ = ["GAP_GRACE", "DynamoDbEventStore"]

GAP_GRACE = 10.0
VIEWER_SK = "_"
QUOTA_PK = "viewer#quota"
"""The partition of the deployment's daily session bundle counts (no viewer id is ``quota``)."""
DAY = 24 * 3600

_unavailable = unavailable_on_aws_errors("the events store")


def _pk(viewer_id: str) -> dict[str, str]:
    return {"S": f"viewer#{viewer_id}"}


def _event_sk(seq: int) -> dict[str, str]:
    return {"S": f"event#{seq:012d}"}


class DynamoDbEventStore:
    def __init__(self, table_name: str, client: DynamoDBClient, clock: Timer = time.time) -> None:
        self.table = table_name
        self.client = client
        self.clock = clock

    @_unavailable
    def put_viewer(self, viewer: Viewer) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": _pk(viewer.viewer_id),
                "sk": {"S": VIEWER_SK},
                "doc": {"S": viewer.model_dump_json()},
                "last_seq": {"N": "0"},
                "expires_at": {"N": str(viewer.expires_at)},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    @_unavailable
    def get_viewer(self, viewer_id: str, now: int) -> Viewer | None:
        item = self.client.get_item(
            TableName=self.table,
            Key={"pk": _pk(viewer_id), "sk": {"S": VIEWER_SK}},
            ConsistentRead=True,
        ).get("Item")
        if item is None or int(item["expires_at"]["N"]) <= now:
            return None
        return Viewer.model_validate_json(item["doc"]["S"])

    @_unavailable
    def append(self, viewer: Viewer, events: Sequence[dict[str, Any]]) -> int:
        counter = self.client.update_item(
            TableName=self.table,
            Key={"pk": _pk(viewer.viewer_id), "sk": {"S": VIEWER_SK}},
            UpdateExpression="ADD last_seq :n",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":n": {"N": str(len(events))}},
            ReturnValues="UPDATED_NEW",
        )
        last = int(counter["Attributes"]["last_seq"]["N"])
        received = f"{self.clock():.3f}"
        first = last - len(events) + 1
        for start in range(0, len(events), 25):
            batch = events[start : start + 25]
            requests: list[Any] = [
                {
                    "PutRequest": {
                        "Item": {
                            "pk": _pk(viewer.viewer_id),
                            "sk": _event_sk(first + start + i),
                            "doc": {"S": event_json(event)},
                            "received_at": {"N": received},
                            "expires_at": {"N": str(viewer.expires_at)},
                        }
                    }
                }
                for i, event in enumerate(batch)
            ]
            self._batch_write(requests)
        return last

    def _batch_write(self, requests: list[Any]) -> None:
        def send(pending: list[Any]) -> list[Any]:
            unprocessed = self.client.batch_write_item(RequestItems={self.table: pending}).get(
                "UnprocessedItems", {}
            )
            return list(unprocessed.get(self.table, []))

        until_processed(send, requests, store="the events store")

    @_unavailable
    def read(self, viewer: Viewer, after: int, limit: int) -> list[StoredEvent]:
        reply = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":pk": _pk(viewer.viewer_id),
                ":lo": _event_sk(after + 1),
                ":hi": _event_sk(10**12 - 1),
            },
            ConsistentRead=True,
            Limit=limit,
        )
        events: list[StoredEvent] = []
        expected = after + 1
        now = self.clock()
        for item in reply.get("Items", []):
            seq = int(item["sk"]["S"].removeprefix("event#"))
            if seq != expected and now - float(item["received_at"]["N"]) < GAP_GRACE:
                break  # an earlier event may still be on its way
            events.append(StoredEvent(seq=seq, event=json.loads(item["doc"]["S"])))
            expected = seq + 1
        return events

    @_unavailable
    def reserve_bundle(self, viewer: Viewer, size: int, quota: BundleQuota, now: int) -> str | None:
        """Conditional ``ADD``s: the viewer's count on its own item (it expires with the
        viewer), the day's bytes on ``viewer#quota`` / ``bundles#<day>`` (a key in the events
        function's ``viewer#*`` partitions; TTL a day after the day ends). A day over its
        quota takes the viewer's count back."""
        day = now - now % DAY
        viewer_key = {"pk": _pk(viewer.viewer_id), "sk": {"S": VIEWER_SK}}
        day_key = {"pk": {"S": QUOTA_PK}, "sk": {"S": f"bundles#{day}"}}
        n = {":one": {"N": "1"}, ":n": {"N": str(size)}}
        try:
            self.client.update_item(
                TableName=self.table,
                Key=viewer_key,
                UpdateExpression="ADD bundle_count :one, bundle_bytes :n",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(bundle_count)"
                " OR (bundle_count < :bundles AND bundle_bytes <= :room))",
                ExpressionAttributeValues={
                    **n,
                    ":bundles": {"N": str(quota.viewer_bundles)},
                    ":room": {"N": str(quota.viewer_bytes - size)},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return self._refusal(viewer_key, day_key, quota, size)
        try:
            self.client.update_item(
                TableName=self.table,
                Key=day_key,
                UpdateExpression="ADD day_bytes :n SET expires_at = :ttl",
                ConditionExpression="attribute_not_exists(day_bytes) OR day_bytes <= :room",
                ExpressionAttributeValues={
                    ":n": n[":n"],
                    ":room": {"N": str(quota.daily_bytes - size)},
                    ":ttl": {"N": str(day + 2 * DAY)},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            self.client.update_item(
                TableName=self.table,
                Key=viewer_key,
                UpdateExpression="ADD bundle_count :one, bundle_bytes :n",
                ExpressionAttributeValues={":one": {"N": "-1"}, ":n": {"N": str(-size)}},
            )
            return self._refusal(viewer_key, day_key, quota, size)
        return None

    def _refusal(
        self, viewer_key: dict[str, Any], day_key: dict[str, Any], quota: BundleQuota, size: int
    ) -> str:
        def count(key: dict[str, Any], attribute: str) -> int:
            item = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True)
            return int(item.get("Item", {}).get(attribute, {"N": "0"})["N"])

        bundles, viewer_bytes = count(viewer_key, "bundle_count"), count(viewer_key, "bundle_bytes")
        day_bytes = count(day_key, "day_bytes")
        refusal = quota_refusal(quota, bundles, viewer_bytes, day_bytes, size)
        return refusal or "a session bundle quota is used up (they changed meanwhile); try again"

    def expire(self, now: int) -> list[str]:
        return []  # DynamoDB's TTL removes the items, the bucket's lifecycle rule the blobs

    @_unavailable
    def put_bundle(self, record: BundleRecord) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": _pk(record.viewer_id),
                "sk": {"S": f"bundle#{record.request_id}"},
                "doc": {"S": record.model_dump_json()},
                "expires_at": {"N": str(record.expires_at)},
            },
        )

    @_unavailable
    def bundles(self, viewer: Viewer) -> list[BundleRecord]:
        records: list[BundleRecord] = []
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": _pk(viewer.viewer_id),
                ":prefix": {"S": "bundle#"},
            },
            "ConsistentRead": True,
        }
        while True:
            reply = self.client.query(**arguments)
            records += [BundleRecord.model_validate_json(i["doc"]["S"]) for i in reply["Items"]]
            if "LastEvaluatedKey" not in reply:
                return sorted(records, key=lambda r: r.created_at)
            arguments["ExclusiveStartKey"] = reply["LastEvaluatedKey"]
