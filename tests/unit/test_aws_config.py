"""The Lambda functions' environment contract (the SAM template sets these variables)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cellucid_cloud.aws.config import (
    ApiSettings,
    EventsSettings,
    PrepareSettings,
    SessionsSettings,
)

STORES = {"CATALOG_TABLE": "catalog", "UPLOADS_BUCKET": "uploads", "EXPORTS_BUCKET": "exports"}
SITE = STORES | {"PUBLIC_BASE_URL": "https://d111111abcdef8.cloudfront.net"}
SERVING = SITE | {
    "TOKEN_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:token-AbCdEf",
}
API = SERVING | {
    "PREPARE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/cellucid-prepare",
}
SESSIONS_BUCKET = {"SESSIONS_BUCKET": "cellucid-prod-sessions-123456789012-us-east-1"}


def test_api_settings_with_defaults() -> None:
    settings = ApiSettings.from_env(API | {"UNRELATED": "x"})
    assert settings.catalog_table == "catalog"
    assert str(settings.public_base_url).startswith("https://d111111abcdef8.cloudfront.net")
    assert settings.meta_ttl == 60.0
    assert settings.max_upload_bytes == 20 * 1024**3
    assert settings.allow_private_links is False
    assert settings.prepare_queue_url.endswith("/cellucid-prepare")


def test_api_settings_read_the_optional_limits() -> None:
    settings = ApiSettings.from_env(API | {"META_TTL": "5", "MAX_UPLOAD_BYTES": "1024"})
    assert (settings.meta_ttl, settings.max_upload_bytes) == (5.0, 1024)


def test_prepare_needs_only_the_stores_and_the_idempotency_table() -> None:
    settings = PrepareSettings.from_env(STORES | {"IDEMPOTENCY_TABLE": "idempotency"})
    assert settings.idempotency_table == "idempotency"
    assert settings.allow_private_links is False


@pytest.mark.parametrize(("value", "allowed"), [("true", True), ("1", True), ("false", False)])
def test_private_links_are_allowed_only_when_set(value: str, allowed: bool) -> None:
    environment = STORES | {"IDEMPOTENCY_TABLE": "i", "ALLOW_PRIVATE_LINKS": value}
    assert PrepareSettings.from_env(environment).allow_private_links is allowed
    assert ApiSettings.from_env(API | {"ALLOW_PRIVATE_LINKS": value}).allow_private_links is allowed


def test_events_need_the_sessions_bucket_and_the_token_secret_not_the_queue() -> None:
    settings = EventsSettings.from_env(SERVING | SESSIONS_BUCKET)
    assert settings.sessions_bucket == SESSIONS_BUCKET["SESSIONS_BUCKET"]
    with pytest.raises(ValidationError, match="SESSIONS_BUCKET"):
        EventsSettings.from_env(SERVING)


def test_sessions_need_no_token_secret() -> None:
    settings = SessionsSettings.from_env(SITE | SESSIONS_BUCKET)
    assert settings.sessions_bucket == SESSIONS_BUCKET["SESSIONS_BUCKET"]


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({k: v for k, v in API.items() if k != "TOKEN_SECRET_ARN"}, "TOKEN_SECRET_ARN"),
        (API | {"CATALOG_TABLE": ""}, "CATALOG_TABLE"),
        (API | {"PUBLIC_BASE_URL": "d111.cloudfront.net"}, "PUBLIC_BASE_URL"),
        (API | {"META_TTL": "-1"}, "META_TTL"),
        (API | {"MAX_UPLOAD_BYTES": "lots"}, "MAX_UPLOAD_BYTES"),
        ({k: v for k, v in API.items() if k != "PREPARE_QUEUE_URL"}, "PREPARE_QUEUE_URL"),
        (API | {"ALLOW_PRIVATE_LINKS": "maybe"}, "ALLOW_PRIVATE_LINKS"),
    ],
)
def test_a_missing_or_malformed_variable_is_named(environment: dict[str, str], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        ApiSettings.from_env(environment)
