"""The meta function on a moto server answers every public read-only request exactly as the
API function (FastAPI behind Mangum) does: status, body, and the headers a client or CloudFront
reads — including the 4xx, the 304s and the 405s.

Both functions get the same HTTP API v2 events over the same catalog; the meta function's
answers are also what the pipeline test and ``test_lambda_events.py`` check.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from cellucid_cloud.catalog.service import CatalogService
from tests.catalog_data import CURATOR, METADATA, published_collection
from tests.cloud import ROOT, CloudStack, cloud_stack, request

COMPARED_HEADERS = (
    "content-type",
    "cache-control",
    "etag",
    "allow",
    "www-authenticate",
    "retry-after",
    "x-content-type-options",
)


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[CloudStack]:
    with cloud_stack(moto_server) as stack:
        yield stack


def seeded(catalog: CatalogService) -> dict[str, str]:
    """A published collection, a draft with a dataset, and their ids."""
    collection_id, (dataset_id,) = published_collection(catalog, 1)
    draft = catalog.create_collection(CURATOR, METADATA)
    draft_dataset = catalog.add_dataset(CURATOR, draft.collection.collection_id, "draft")
    return {
        "collection": collection_id,
        "dataset": dataset_id,
        "draft": draft.collection.collection_id,
        "draft_version": draft.version.version_id,
        "draft_dataset": draft_dataset.dataset_id,
    }


def scenario(ids: dict[str, str]) -> list[dict[str, Any]]:
    def get(path: str, **query: str) -> dict[str, Any]:
        return request("GET", path, query=query)

    def explorer(dataset_id: str) -> str:
        return f"https://d111111abcdef8.cloudfront.net/e/{dataset_id}/"

    return [
        get("/dp/v1/datasets/meta", url=explorer(ids["dataset"])),
        get("/dp/v1/meta/datasets", url=explorer(ids["dataset"])),
        get("/dp/v1/datasets/meta", url=f"/cellxgene/e/{ids['dataset']}.cxg/"),
        get("/dp/v1/datasets/meta", url=explorer(ids["draft_dataset"])),
        get("/dp/v1/datasets/meta", url=explorer("no-such-dataset")),
        get("/dp/v1/datasets/meta", url="not a URL"),
        get("/dp/v1/datasets/meta", url=""),
        get("/dp/v1/datasets/meta", url="x" * 3000),
        get("/dp/v1/datasets/meta"),
        request("POST", "/dp/v1/datasets/meta", body=b"{}", content_type="application/json"),
        request("POST", "/dp/v1/datasets/meta", body=b"x" * (1024 * 1024 + 1)),
        request("HEAD", "/dp/v1/meta/datasets", query={"url": explorer(ids["dataset"])}),
        get("/dp/v1/collections"),
        request("DELETE", "/dp/v1/collections"),
        get(f"/dp/v1/collections/{ids['collection']}"),
        get(f"/dp/v1/collections/{ids['collection']}", visibility="PRIVATE"),
        get(f"/dp/v1/collections/{ids['collection']}", visibility="secret"),
        get(f"/dp/v1/collections/{ids['draft']}"),
        get(f"/dp/v1/collections/{ids['draft_version']}"),
        get("/dp/v1/collections/no-such-collection"),
        get("/dp/v1/collections/" + "x" * 3000),
        get("/dp/v1/collections/" + "x" * 3000, visibility="secret"),
        request("PUT", f"/dp/v1/collections/{ids['collection']}", body=b"{}"),
        get("/datasets.json"),
        request("OPTIONS", "/datasets.json"),
        get(f"/dp/v1/datasets/{ids['dataset']}/download"),
        request("HEAD", f"/dp/v1/datasets/{ids['dataset']}/download"),
        get(f"/dp/v1/datasets/{ids['draft_dataset']}/download"),
        get("/dp/v1/datasets/" + "x" * 3000 + "/download"),
        request("POST", f"/dp/v1/datasets/{ids['dataset']}/download"),
        get("/_cellucid/health"),
        get("/_cellucid/info"),
        get("/_cellucid/datasets"),
        request("POST", "/_cellucid/health", body=b"{}", content_type="application/json"),
    ]


def compared(response: dict[str, Any]) -> dict[str, Any]:
    headers = {name.lower(): value for name, value in response.get("headers", {}).items()}
    body = response.get("body") or ""
    if not body:  # Mangum labels an empty body (a 304's, a redirect's) JSON; Powertools does not
        headers.pop("content-type", None)
    return {
        "status": response["statusCode"],
        "base64": bool(response.get("isBase64Encoded")),
        "body": json.loads(body) if body else None,
        "headers": {name: headers.get(name) for name in COMPARED_HEADERS},
    }


def test_the_meta_function_answers_as_the_api_function_does(stack: CloudStack) -> None:
    ids = seeded(stack.catalog)
    answers = []
    for http_event in scenario(ids):
        ours, theirs = compared(stack.meta(http_event)), compared(stack.api(http_event))
        where = f"{http_event['requestContext']['http']['method']} {http_event['rawPath'][:80]}"
        assert ours == theirs, where
        answers.append(ours["status"])
    assert answers.count(200) >= 10 and {304, 404, 405, 410, 413, 422} - set(answers) == {304}


def test_an_etag_revalidates_on_both_functions(stack: CloudStack) -> None:
    """A 304 for the ETag either function gave, in the weak form a CDN sends back."""
    published_collection(stack.catalog, 1)
    for path in ("/datasets.json", "/dp/v1/collections", "/_cellucid/datasets"):
        first = stack.meta(request("GET", path))
        etag = {k.lower(): v for k, v in first["headers"].items()}["etag"]
        for host in (stack.meta, stack.api):
            again = host(request("GET", path, headers={"if-none-match": f"W/{etag}"}))
            assert again["statusCode"] == 304, (path, again)
            assert not again.get("body")


def test_the_meta_function_imports_no_web_framework_and_reaches_no_aws_at_build() -> None:
    """What its cold start skips: FastAPI and the X-Ray SDK; boto3 clients wait for the first
    request (no endpoint is reachable here, and none is asked)."""
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('app', {str(ROOT)!r} + "
        "'/functions/meta/app.py')\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "from cellucid_cloud.aws.meta import meta_app\n"
        "meta_app()\n"
        "absent = {'fastapi', 'starlette', 'aws_xray_sdk', 'boto3', 'numpy', 'anndata', 'jwt'}\n"
        "print(sorted(absent & set(sys.modules)))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "CATALOG_TABLE": "catalog",
        "UPLOADS_BUCKET": "uploads",
        "EXPORTS_BUCKET": "exports",
        "PUBLIC_BASE_URL": "https://d111111abcdef8.cloudfront.net",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    )
    assert result.stdout.strip() == "[]", result.stderr
