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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from cellucid_cloud.events.models import BundleRecord, StoredEvent, Viewer
from cellucid_cloud.events.wire import event_json
from cellucid_cloud.unavailable import StoreUnavailableError, unavailable_on_aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

__all__ = ["GAP_GRACE", "DynamoDbEventStore"]

GAP_GRACE = 10.0
VIEWER_SK = "_"

_unavailable = unavailable_on_aws_errors("the events store")


def _pk(viewer_id: str) -> dict[str, str]:
    return {"S": f"viewer#{viewer_id}"}


def _event_sk(seq: int) -> dict[str, str]:
    return {"S": f"event#{seq:012d}"}


class DynamoDbEventStore:
    def __init__(
        self, table_name: str, client: DynamoDBClient, clock: Callable[[], float] = time.time
    ) -> None:
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
        for attempt in range(10):
            unprocessed = self.client.batch_write_item(RequestItems={self.table: requests}).get(
                "UnprocessedItems", {}
            )
            requests = list(unprocessed.get(self.table, []))
            if not requests:
                return
            time.sleep(min(0.05 * 2**attempt, 2.0))
        raise StoreUnavailableError(
            "the events store is unavailable (DynamoDB kept events unprocessed); try again shortly"
        )

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
