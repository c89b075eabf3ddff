"""The Lambda functions' settings, read from the environment the SAM template sets.

Each function validates only what it uses, so a missing or malformed variable fails the cold
start with its name in the message. boto3 itself honours ``AWS_ENDPOINT_URL`` (tests point it
at a moto server); Powertools reads its own ``POWERTOOLS_*`` variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Self

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

__all__ = [
    "ApiSettings",
    "EventsSettings",
    "ExportStepSettings",
    "IngestSettings",
    "PrepareSettings",
    "SessionsSettings",
    "StoreSettings",
]

Name = Annotated[str, Field(min_length=1)]


class StoreSettings(BaseModel):
    """Where the catalog and the two buckets are: what every function needs."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    catalog_table: Name = Field(alias="CATALOG_TABLE")
    uploads_bucket: Name = Field(alias="UPLOADS_BUCKET")
    exports_bucket: Name = Field(alias="EXPORTS_BUCKET")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        return cls.model_validate(dict(os.environ if environ is None else environ))


class IngestSettings(StoreSettings):
    """What the functions that take dataset files need (api grants uploads and queues links,
    prepare downloads links)."""

    max_upload_bytes: Annotated[int, Field(ge=1)] = Field(20 * 1024**3, alias="MAX_UPLOAD_BYTES")
    allow_private_links: bool = Field(False, alias="ALLOW_PRIVATE_LINKS")
    """Fetch links to loopback/private hosts. The template never sets it: a hosted server
    must not reach into its own network (tests on a local file server do)."""


class PrepareSettings(IngestSettings):
    idempotency_table: Name = Field(alias="IDEMPOTENCY_TABLE")
    """Powertools' idempotency records (partition key ``id``, TTL attribute ``expiration``)."""
    export_state_machine_arn: Name | None = Field(None, alias="EXPORT_STATE_MACHINE_ARN")
    """The distributed export, for uploads too large for one function; unset: every upload
    is exported by the prepare function."""


class ExportStepSettings(StoreSettings):
    """The functions of the distributed export's steps (plan, blocks, finalize)."""

    block_memory_mb: Annotated[int, Field(ge=16)] = Field(1536, alias="BLOCK_MEMORY_MB")
    """What one block may use: the block functions' memory less the runtime, the upload's
    read cache and the buffers in flight."""


class SiteSettings(StoreSettings):
    public_base_url: AnyHttpUrl = Field(alias="PUBLIC_BASE_URL")
    """The CloudFront URL users open; explorer and export URLs are built from it."""
    meta_ttl: Annotated[float, Field(ge=0)] = Field(60.0, alias="META_TTL")


class ServingSettings(SiteSettings):
    token_secret_arn: Name = Field(alias="TOKEN_SECRET_ARN")
    """A Secrets Manager secret whose SecretString signs the curators' bearer tokens."""


class ApiSettings(ServingSettings, IngestSettings):
    prepare_queue_url: Name = Field(alias="PREPARE_QUEUE_URL")
    """Where link ingestion requests go (prepare downloads them)."""


class EventsSettings(ServingSettings):
    sessions_bucket: Name = Field(alias="SESSIONS_BUCKET")
    """Session bundles: posted ones, and the target of bundle upload URLs."""


class SessionsSettings(SiteSettings):
    sessions_bucket: Name = Field(alias="SESSIONS_BUCKET")
