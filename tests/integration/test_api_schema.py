"""Schemathesis against the real API over HTTP: no 5xx, only documented statuses, bodies and
headers as documented, invalid input refused, authentication never ignored.

The operations come from the app's own OpenAPI document, built once at collection so pytest
lists one test per operation (schemathesis's lazy ``from_fixture`` loader does not run under
pytest 9); a test checks that the server serves exactly this document.

``positive_data_acceptance`` is left out on purpose: some valid-looking inputs are refused by
rules a JSON schema cannot state (the meta ``url`` must name one id after ``/e/``; an upload's
declared size must be under the deployment's cap), with a documented 422.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig

from cellucid_cloud.api.app import build_fastapi
from cellucid_cloud.local.stack import LocalStack, StackSettings
from tests.api_server import SeededApi, seeded_api

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
    checks.missing_required_header,
    checks.ignored_auth,
    checks.unsupported_method,
    checks.allow_header_conformance,
]
BOUNDED = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))


def openapi_document() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        stack = LocalStack(StackSettings(data_dir=Path(tmp), base_url="http://127.0.0.1"))
        try:
            return build_fastapi(stack.api_context).openapi()
        finally:
            stack.repository.close()


DOCUMENT = openapi_document()
schema = schemathesis.openapi.from_dict(DOCUMENT)
valid_only = schemathesis.openapi.from_dict(
    DOCUMENT, config=SchemathesisConfig.from_dict({"generation": {"mode": "positive"}})
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededApi]:
    with seeded_api(tmp_path_factory.mktemp("schema")) as api:
        yield api


def call(case: schemathesis.Case, served: SeededApi) -> None:
    case.call_and_validate(
        base_url=served.base_url,
        headers={"Authorization": f"Bearer {served.token()}"},
        checks=CHECKS,
        timeout=30,
    )


def test_the_served_document_is_the_one_tested(served: SeededApi) -> None:
    assert httpx.get(f"{served.base_url}/openapi.json").json() == DOCUMENT


@schema.parametrize()
@BOUNDED
def test_operation(case: schemathesis.Case, served: SeededApi) -> None:
    """Generated ids: mostly unknown collections and datasets, and malformed ids."""
    call(case, served)


@valid_only.include(path_regex=r"\{collection_id\}").parametrize()
@BOUNDED
def test_operation_on_the_seeded_collection(case: schemathesis.Case, served: SeededApi) -> None:
    """The seeded curator's own published collection and ready dataset, so the generated
    bodies reach the use cases (revision, publish, patch, uploads) instead of a 404. Valid
    requests only: real ids in place of generated invalid ones would make them valid."""
    case.path_parameters = {
        name: served.seeded.collection_id if name == "collection_id" else served.seeded.dataset_id
        for name in case.path_parameters or {}
    }
    call(case, served)
