"""Link ingestion on AWS, the API's half: queue the download for the prepare function.

A download can take minutes, and the API function is frozen as soon as it answers, so the
route only checks the link and sends ``{"link", "key"}`` to the prepare queue. prepare (900 s,
10 GB of ``/tmp``) fetches it with the same guards and puts the file at ``key`` in the
uploads bucket, whose notification then brings it back through the queue as an ordinary
upload (:mod:`cellucid_cloud.aws.prepare`).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self, cast

from cellucid_cloud.aws_calls import aws_client

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

__all__ = ["LinkRequest", "ReprocessRequest", "SqsLinkIngest", "sqs_client"]


@dataclass(frozen=True, slots=True)
class LinkRequest:
    """Download ``link`` into the uploads bucket at ``key``."""

    link: str
    key: str

    def to_message(self) -> str:
        return json.dumps({"link": self.link, "key": self.key})

    @classmethod
    def from_message(cls, body: str) -> Self | None:
        """The request an SQS message carries; None for any other message (S3 events)."""
        message = _message(body, {"link", "key"})
        if message is None:
            return None
        link, key = message["link"], message["key"]
        if not isinstance(link, str) or not isinstance(key, str):
            return None
        return cls(link, key)


@dataclass(frozen=True, slots=True)
class ReprocessRequest:
    """Process upload ``upload_id`` (its object at ``key``, holding ``etag``) again: its export
    options changed, and the catalog made it a new pending version."""

    key: str
    upload_id: str
    etag: str | None

    def to_message(self) -> str:
        return json.dumps(
            {"reprocess": {"key": self.key, "upload_id": self.upload_id, "etag": self.etag}}
        )

    @classmethod
    def from_message(cls, body: str) -> Self | None:
        """The request an SQS message carries; None for any other message."""
        message = _message(body, {"reprocess"})
        if message is None:
            return None
        request = message["reprocess"]
        if not isinstance(request, dict):
            return None
        key, upload_id, etag = request.get("key"), request.get("upload_id"), request.get("etag")
        if not isinstance(key, str) or not isinstance(upload_id, str):
            return None
        return cls(key, upload_id, etag if isinstance(etag, str) else None)


def _message(body: str, fields: set[str]) -> dict[str, Any] | None:
    """A JSON object with exactly ``fields``, else None."""
    try:
        message: Any = json.loads(body)
    except json.JSONDecodeError:
        return None
    return message if isinstance(message, dict) and set(message) == fields else None


def sqs_client() -> SQSClient:
    return cast("SQSClient", aws_client("sqs"))


class SqsLinkIngest:
    """The :class:`~cellucid_cloud.core.ports.LinkIngest` and
    :class:`~cellucid_cloud.core.ports.Reprocessing` ports on AWS: messages to the
    prepare queue."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self._given = client

    @functools.cached_property
    def _client(self) -> SQSClient:
        """Made on first use: few API containers ever ingest a link, and a client costs tens
        of milliseconds of cold start."""
        return self._given or sqs_client()

    def ingest(self, link: str, key: str) -> None:
        self._client.send_message(
            QueueUrl=self.queue_url, MessageBody=LinkRequest(link, key).to_message()
        )

    def reprocess(self, key: str, upload_id: str, etag: str | None) -> None:
        self._client.send_message(
            QueueUrl=self.queue_url,
            MessageBody=ReprocessRequest(key, upload_id, etag).to_message(),
        )
