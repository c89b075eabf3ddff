"""The prepare function's logic: SQS batches of S3 upload events → the processing use case,
and of link ingestion requests from the API → a download into the uploads bucket.

Delivery is at least once at every step (S3 → SQS → Lambda), so each upload is processed
through Powertools idempotency keyed on bucket, key, ETag and which PUT it was (S3's
sequencer); the catalog's own dedup (same key and ETag → same version) backs it up once the
idempotency record has expired.

What each outcome does to the SQS message:

* ready, failed (a file prepare refuses: the version records the reason), ignored, skipped
  (already done) → success, the message is deleted: a bad file never causes a retry storm;
* the version is being processed by another invocation, or an unexpected error → the record is
  reported in ``batchItemFailures``: SQS delivers it again after the visibility timeout and,
  past the redrive policy's receive count, moves it to the dead-letter queue. An error after
  the version was claimed also marks it failed and retryable ("internal error while
  processing: …"), so the curator sees it at once and the redelivery claims it again, writing
  to a fresh export prefix (the failed attempt's partial one is never pointed to); errors
  before the claim (reading the upload, the catalog) leave the version as it was.

An invocation killed mid-processing (timeout, out of memory) leaves its version
``processing``; a redelivery reclaims it once :data:`PROCESSING_LEASE` has passed. A version
is claimed at most ``MAX_ATTEMPTS`` (2) times, fewer than the queue's receive count (3), so
the last delivery of a file that kills every attempt marks it failed instead of leaving it
``processing`` behind a message in the dead-letter queue.

A link request (``{"link", "key"}``, :mod:`cellucid_cloud.aws.links`) is downloaded with the
guards of :func:`~cellucid_cloud.storage.link_fetch.fetch_link` and stored at its key in the
uploads bucket; the bucket's notification then queues it as an upload. A link that cannot be
fetched ends as a failed version with the reason (the message is done); a crash is retried.
A request delivered twice downloads twice, and the same bytes at the same key are one upload.
"""

from __future__ import annotations

import functools
import logging
import tempfile
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from cellucid_cloud.aws.config import PrepareSettings
from cellucid_cloud.aws.executions import StateMachineExecutions, stepfunctions_client
from cellucid_cloud.aws.links import LinkRequest, ReprocessRequest
from cellucid_cloud.aws.s3_events import created_objects
from cellucid_cloud.aws.services import aws_ports
from cellucid_cloud.catalog.dynamodb_repository import dynamodb_client
from cellucid_cloud.catalog.models import DatasetStatus, utcnow
from cellucid_cloud.catalog.processing import Arrival, Processor, UploadKey, link_failed
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.core.ports import Clock, LargeUploads, ObjectStore
from cellucid_cloud.core.services import build_services
from cellucid_cloud.distributed.route import DistributedExport
from cellucid_cloud.export import ExportSettings
from cellucid_cloud.ingest.engine import check_and_prepare
from cellucid_cloud.storage.link_fetch import LinkError, fetch_link
from cellucid_cloud.storage.s3 import S3ObjectStore, s3_client
from cellucid_cloud.storage.s3_objects import S3Objects

__all__ = [
    "IDEMPOTENCY_EXPIRY",
    "PROCESSING_LEASE",
    "LinkDownloader",
    "UploadBusyError",
    "UploadPipeline",
    "upload_pipeline",
]

SEQUENCER_WIDTH = 32
"""S3's sequencers differ in length; right-padded with zeros they compare as strings."""
PROCESSING_LEASE = timedelta(minutes=15)
"""Lambda's longest run time: a version ``processing`` for longer has no live worker."""
IDEMPOTENCY_EXPIRY = 24 * 3600
"""How long a processed upload's result is remembered; S3 redeliveries come well within."""

log = logging.getLogger(__name__)
metrics = Metrics()
tracer = Tracer()


class UploadBusyError(RuntimeError):
    """Another invocation holds the upload's version; SQS should deliver it again later."""


class LinkDownloader:
    """Fetches a curator's link into the uploads bucket (prepare has the time and the disk)."""

    def __init__(
        self,
        catalog: CatalogService,
        uploads: S3ObjectStore,
        *,
        max_bytes: int,
        allow_private: bool = False,
    ) -> None:
        self.catalog = catalog
        self.uploads = uploads
        self.max_bytes = max_bytes
        self.allow_private = allow_private

    @tracer.capture_method
    def download(self, request: LinkRequest) -> dict[str, Any]:
        upload = UploadKey.parse(request.key)
        if upload is None:
            log.warning("link request for %s ignored: not an upload key", request.key)
            return {"key": request.key, "status": "ignored"}
        with tempfile.TemporaryDirectory(prefix="link-") as folder:
            path = Path(folder) / "download"
            try:
                size = fetch_link(
                    request.link, path, max_bytes=self.max_bytes, allow_private=self.allow_private
                )
            except LinkError as exc:
                metrics.add_metric(name="LinksFailed", unit=MetricUnit.Count, value=1)
                reason = link_failed(self.catalog, request.key, request.link, str(exc))
                return {"key": request.key, "status": "failed", "reason": reason}
            self.uploads.upload(request.key, path)
        metrics.add_metric(name="LinksDownloaded", unit=MetricUnit.Count, value=1)
        log.info("link %s: %d bytes stored at %s", request.link, size, request.key)
        return {"key": request.key, "status": "downloaded", "bytes": size}


class UploadPipeline:
    def __init__(
        self,
        uploads_bucket: str,
        catalog: CatalogService,
        uploads: ObjectStore,
        exports: ObjectStore,
        persistence: BasePersistenceLayer,
        links: LinkDownloader,
        settings: ExportSettings | None = None,
        clock: Clock = utcnow,
        large: LargeUploads | None = None,
    ) -> None:
        self.uploads_bucket = uploads_bucket
        self.large = large
        """Where uploads too large for this function go (the export state machine)."""
        self.catalog = catalog
        self.uploads = uploads
        self.exports = exports
        self.links = links
        self.settings = settings or ExportSettings()
        self.clock = clock
        self.idempotency = IdempotencyConfig(
            expires_after_seconds=IDEMPOTENCY_EXPIRY, raise_on_no_idempotency_key=True
        )
        self._process_once = idempotent_function(
            data_keyword_argument="upload",
            persistence_store=persistence,
            config=self.idempotency,
        )(self._process)

    def handle(self, event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        """An SQS batch → the records to retry (``batchItemFailures``)."""
        self.idempotency.register_lambda_context(context)
        return process_partial_response(
            event=event,
            record_handler=self.record,
            processor=BatchProcessor(event_type=EventType.SQS),
            context=context,
        )

    def record(self, record: SQSRecord) -> list[dict[str, Any]]:
        """One SQS message: normally one S3 event record, none for S3's test event, or a
        link request from the API."""
        link = LinkRequest.from_message(record.body)
        if link is not None:
            return [self.links.download(link)]
        again = ReprocessRequest.from_message(record.body)
        if again is not None:
            identity = {
                "bucket": self.uploads_bucket,
                "key": again.key,
                "etag": again.etag or "",
                "put": f"reprocess:{record.message_id}",
                "at": "",
                "upload_id": again.upload_id,
            }
            return [self._process_once(upload=identity)]
        results = []
        for created in created_objects(record.body):
            if created.bucket != self.uploads_bucket:
                log.warning("%s in bucket %s ignored: not uploads", created.key, created.bucket)
                continue
            results.append(self._process_once(upload=created.identity() | {"at": created.at}))
        return results

    @tracer.capture_method
    def _process(self, upload: dict[str, str]) -> dict[str, Any]:
        """Process one created object; ``upload`` is its identity (bucket, key, ETag, which
        put; Powertools hashes it into the idempotency key) and the put's time."""
        key = upload["key"]
        arrival = Arrival(
            key,
            etag=upload["etag"] or None,
            put=upload["put"],
            at=_event_time(upload["at"]),
            sequence=upload["put"].ljust(SEQUENCER_WIDTH, "0"),
            upload_id=upload.get("upload_id"),
        )
        processor = Processor(
            self.catalog,
            self.uploads,
            self.exports,
            self.settings,
            reclaim_before=self.clock() - PROCESSING_LEASE,
            run=check_and_prepare,
            large=self.large,
        )
        outcome = processor.process(arrival)
        if outcome.status == "skipped" and outcome.version_id is not None:
            version = self.catalog.dataset_version(outcome.version_id)
            if version is not None and version.status is DatasetStatus.PROCESSING:
                raise UploadBusyError(f"version {version.version_id} is being processed")
        metrics.add_metric(name=f"Uploads{outcome.status.title()}", unit=MetricUnit.Count, value=1)
        log.info("upload %s: %s %s", key, outcome.status, outcome.reason or "")
        return asdict(outcome)


def _event_time(text: str) -> datetime | None:
    """An S3 event's ``eventTime`` (ISO 8601, milliseconds, ``Z``)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


@functools.cache
def upload_pipeline() -> UploadPipeline:
    """The prepare function's pipeline, with idempotency records in ``IDEMPOTENCY_TABLE``."""
    settings = PrepareSettings.from_env()
    s3 = s3_client()
    catalog = build_services(aws_ports(settings)).catalog
    uploads = S3Objects(settings.uploads_bucket, s3)
    large = None
    if settings.export_state_machine_arn:
        executions = StateMachineExecutions(
            settings.export_state_machine_arn, stepfunctions_client()
        )
        large = DistributedExport(uploads, executions)
    return UploadPipeline(
        settings.uploads_bucket,
        catalog,
        uploads,
        S3ObjectStore(settings.exports_bucket, s3),
        DynamoDBPersistenceLayer(
            table_name=settings.idempotency_table, boto3_client=dynamodb_client()
        ),
        LinkDownloader(
            catalog,
            uploads,
            max_bytes=settings.max_upload_bytes,
            allow_private=settings.allow_private_links,
        ),
        large=large,
    )
