"""The Lambda functions' environment contract (the SAM template sets these variables)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cellucid_cloud.aws.config import ApiSettings, PrepareSettings

STORES = {"CATALOG_TABLE": "catalog", "UPLOADS_BUCKET": "uploads", "EXPORTS_BUCKET": "exports"}
API = STORES | {
    "PUBLIC_BASE_URL": "https://d111111abcdef8.cloudfront.net",
    "TOKEN_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:token-AbCdEf",
}


def test_api_settings_with_defaults() -> None:
    settings = ApiSettings.from_env(API | {"UNRELATED": "x"})
    assert settings.catalog_table == "catalog"
    assert str(settings.public_base_url).startswith("https://d111111abcdef8.cloudfront.net")
    assert settings.meta_ttl == 60.0
    assert settings.max_upload_bytes == 20 * 1024**3


def test_api_settings_read_the_optional_limits() -> None:
    settings = ApiSettings.from_env(API | {"META_TTL": "5", "MAX_UPLOAD_BYTES": "1024"})
    assert (settings.meta_ttl, settings.max_upload_bytes) == (5.0, 1024)


def test_prepare_needs_only_the_stores_and_the_idempotency_table() -> None:
    settings = PrepareSettings.from_env(STORES | {"IDEMPOTENCY_TABLE": "idempotency"})
    assert settings.idempotency_table == "idempotency"


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({k: v for k, v in API.items() if k != "TOKEN_SECRET_ARN"}, "TOKEN_SECRET_ARN"),
        (API | {"CATALOG_TABLE": ""}, "CATALOG_TABLE"),
        (API | {"PUBLIC_BASE_URL": "d111.cloudfront.net"}, "PUBLIC_BASE_URL"),
        (API | {"META_TTL": "-1"}, "META_TTL"),
        (API | {"MAX_UPLOAD_BYTES": "lots"}, "MAX_UPLOAD_BYTES"),
    ],
)
def test_a_missing_or_malformed_variable_is_named(environment: dict[str, str], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        ApiSettings.from_env(environment)
