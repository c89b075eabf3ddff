"""Each Lambda function's parts, built from its settings once per container.

The builders are cached at module level: a warm invocation reuses the clients, the meta cache
and the signing secret. The API's builder never imports the export stack (AnnData, h5py…),
which only the prepare function ships.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, cast

from cellucid_cloud.api.app import build_api
from cellucid_cloud.api.auth import Authenticator
from cellucid_cloud.api.context import ApiContext
from cellucid_cloud.aws.config import ApiSettings, PrepareSettings, StoreSettings
from cellucid_cloud.catalog.dynamodb_repository import DynamoDbCatalogRepository, dynamodb_client
from cellucid_cloud.catalog.errors import CatalogError
from cellucid_cloud.catalog.meta import MetaService
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.storage.s3 import S3ObjectStore, S3UploadUrls, s3_client

if TYPE_CHECKING:
    from mangum import Mangum

    from cellucid_cloud.aws.prepare import UploadPipeline

__all__ = ["LinkIngestUnavailableError", "api_context", "api_handler", "upload_pipeline"]


class LinkIngestUnavailableError(CatalogError):
    status = 501


class UnavailableLinkIngest:
    """Link ingestion needs a download that outlives the request; a Lambda behind API Gateway
    is frozen once it answers, so the AWS deployment refuses links and points to upload URLs."""

    def ingest(self, link: str, key: str) -> None:
        raise LinkIngestUnavailableError(
            "this deployment does not ingest links; ask for an upload URL "
            "(POST .../datasets/{dataset_id}/upload-url) and PUT the file there"
        )


def catalog_repository(settings: StoreSettings) -> DynamoDbCatalogRepository:
    return DynamoDbCatalogRepository(settings.catalog_table, dynamodb_client())


def api_context(settings: ApiSettings) -> ApiContext:
    """The API's parts; reads the token-signing secret from Secrets Manager."""
    from aws_lambda_powertools.utilities.parameters import get_secret

    repository = catalog_repository(settings)
    s3 = s3_client()
    meta = MetaService(
        repository,
        S3ObjectStore(settings.exports_bucket, s3),
        str(settings.public_base_url),
        ttl=settings.meta_ttl,
        clock=time.monotonic,
    )
    return ApiContext(
        catalog=CatalogService(repository),
        meta=meta,
        auth=Authenticator(repository, get_secret(settings.token_secret_arn)),
        uploads=S3UploadUrls(settings.uploads_bucket, s3),
        links=UnavailableLinkIngest(),
        mode="aws",
        max_upload_bytes=settings.max_upload_bytes,
    )


@functools.cache
def api_handler() -> Mangum:
    """The API function's ASGI adapter (HTTP API payload format 2.0; no lifespan events)."""
    from mangum import Mangum
    from mangum.types import ASGI

    app = build_api(api_context(ApiSettings.from_env()))
    # Starlette types an ASGI app's result as Awaitable, Mangum as Coroutine: the same app.
    return Mangum(cast(ASGI, app), lifespan="off")


@functools.cache
def upload_pipeline() -> UploadPipeline:
    """The prepare function's pipeline, with idempotency records in ``IDEMPOTENCY_TABLE``."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from cellucid_cloud.aws.prepare import UploadPipeline

    settings = PrepareSettings.from_env()
    s3 = s3_client()
    return UploadPipeline(
        settings.uploads_bucket,
        CatalogService(catalog_repository(settings)),
        S3ObjectStore(settings.uploads_bucket, s3),
        S3ObjectStore(settings.exports_bucket, s3),
        DynamoDBPersistenceLayer(
            table_name=settings.idempotency_table, boto3_client=dynamodb_client()
        ),
    )
