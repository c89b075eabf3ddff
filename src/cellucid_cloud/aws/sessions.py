"""The sessions function: validate the session bundles PUT through upload URLs as they arrive.

The sessions bucket notifies this function directly (no queue: validating is short, and a
crash is retried twice by Lambda's asynchronous invocation and raises the errors alarm) of
every object created under ``sessions/`` ending in ``.cellucid-session``. Each is checked as
a posted bundle is: a valid one is recorded in place and announced with a ``session_bundle``
event; anything else is deleted, and the viewer gets a ``session_bundle`` event with
``status: rejected`` and the reason. Bundles the events function stored itself (posted, so
validated already) are left alone.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Literal

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from cellucid_cloud.aws.config import SessionsSettings
from cellucid_cloud.aws.s3_events import created_in
from cellucid_cloud.aws.services import aws_ports, site
from cellucid_cloud.core.services import build_services
from cellucid_cloud.events.service import EventsService
from cellucid_cloud.storage.s3_blobs import S3BlobStore

__all__ = ["SessionUploads", "session_uploads"]

log = logging.getLogger(__name__)
metrics = Metrics()

Verdict = Literal["recorded", "rejected", "posted", "gone"]


class SessionUploads:
    def __init__(self, events: EventsService, blobs: S3BlobStore) -> None:
        self.events = events
        self.blobs = blobs

    def handle(self, event: dict[str, Any]) -> dict[str, Verdict]:
        """An S3 notification → what became of each created object, by key."""
        verdicts: dict[str, Verdict] = {}
        for created in created_in(event):
            if created.bucket != self.blobs.bucket:
                log.warning("%s in bucket %s ignored: not sessions", created.key, created.bucket)
                continue
            verdicts[created.key] = verdict = self.validate(created.key)
            metrics.add_metric(name=f"Bundles{verdict.title()}", unit=MetricUnit.Count, value=1)
            log.info("session bundle %s: %s", created.key, verdict)
        return verdicts

    def validate(self, key: str) -> Verdict:
        stored_here = self.blobs.stored_here(key)
        if stored_here is None:
            return "gone"
        if stored_here:
            return "posted"
        record = self.events.validate_upload(key, self.blobs, in_place=True)
        return "recorded" if record is not None else "rejected"


@functools.cache
def session_uploads() -> SessionUploads:
    """The sessions function's parts, built once per container."""
    settings = SessionsSettings.from_env()
    ports = aws_ports(settings, sessions_bucket=settings.sessions_bucket)
    assert isinstance(ports.sessions, S3BlobStore)
    return SessionUploads(build_services(ports, site(settings)).events, ports.sessions)
