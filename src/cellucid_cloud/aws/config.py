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

__all__ = ["ApiSettings", "PrepareSettings", "StoreSettings"]

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


class PrepareSettings(StoreSettings):
    idempotency_table: Name = Field(alias="IDEMPOTENCY_TABLE")
    """Powertools' idempotency records (partition key ``id``, TTL attribute ``expiration``)."""


class ApiSettings(StoreSettings):
    public_base_url: AnyHttpUrl = Field(alias="PUBLIC_BASE_URL")
    """The CloudFront URL users open; explorer and export URLs are built from it."""
    token_secret_arn: Name = Field(alias="TOKEN_SECRET_ARN")
    """A Secrets Manager secret whose SecretString signs the curators' bearer tokens."""
    meta_ttl: Annotated[float, Field(ge=0)] = Field(60.0, alias="META_TTL")
    max_upload_bytes: Annotated[int, Field(ge=1)] = Field(20 * 1024**3, alias="MAX_UPLOAD_BYTES")
