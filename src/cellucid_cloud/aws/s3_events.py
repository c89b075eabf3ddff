"""S3 event notifications, as they arrive in SQS message bodies or as a Lambda event.

S3 sends one ``s3:TestEvent`` message when a notification is configured (no records: nothing
to do) and then messages with ``Records``. Keys arrive URL-encoded the way HTML forms are
(``+`` for a space), so they are decoded before use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event

__all__ = ["CreatedObject", "MalformedEventError", "created_in", "created_objects"]

TEST_EVENT = "s3:TestEvent"
OBJECT_CREATED = "ObjectCreated:"


class MalformedEventError(ValueError):
    """A message that is not an S3 event notification."""


@dataclass(frozen=True, slots=True)
class CreatedObject:
    bucket: str
    key: str
    etag: str
    put: str = ""
    """Which PUT of the key this is: S3's ``sequencer`` (else the event time). The same bytes
    put again after others (A, B, A) are a new upload, not a duplicate of the first A."""
    at: str = ""
    """The event's time: when S3 finished the PUT (ISO 8601)."""

    def identity(self) -> dict[str, str]:
        """What makes two deliveries the same upload (the idempotency key's payload): one
        event delivered twice carries the same bucket, key, ETag and sequencer."""
        return {"bucket": self.bucket, "key": self.key, "etag": self.etag, "put": self.put}


def created_objects(body: str) -> list[CreatedObject]:
    """The objects an SQS message body says were created (none for a test event)."""
    try:
        message: Any = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedEventError(f"the message body is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise MalformedEventError("the message body is not a JSON object")
    return created_in(message)


def created_in(message: dict[str, Any]) -> list[CreatedObject]:
    """The objects an S3 notification says were created (none for a test event)."""
    if message.get("Event") == TEST_EVENT:
        return []
    if not isinstance(message.get("Records"), list):
        raise MalformedEventError("the message is not an S3 event notification (no Records)")
    created = []
    try:
        for record in S3Event(message).records:
            if not record.event_name.startswith(OBJECT_CREATED):
                continue
            s3 = record.s3
            obj = s3.get_object
            if not obj.etag:
                raise MalformedEventError(f"{record.event_name} record without an eTag")
            at = str(record.get("eventTime") or "")
            put = obj.get("sequencer") or at
            created.append(
                CreatedObject(s3.bucket.name, unquote_plus(obj.key), obj.etag.strip('"'), put, at)
            )
    except (KeyError, TypeError, AttributeError) as exc:
        raise MalformedEventError(f"malformed S3 event record: {exc!r}") from None
    return created
