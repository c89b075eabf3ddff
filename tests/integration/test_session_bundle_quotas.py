"""A viewer-token holder cannot fill the disk (issue 15, finding 4): session bundles count
against per-viewer and per-deployment quotas, upload URLs take one PUT, and bundles (files and
records) expire with their viewer. Real HTTP against the local stack; the events function on
moto for the AWS twin."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cellucid_cloud.events.store import BundleQuota
from cellucid_cloud.local.stack import FIRST_CURATOR
from tests.api_server import SeededApi, seeded_api
from tests.catalog_data import CURATOR, published_collection
from tests.cloud import CloudStack, cloud_stack
from tests.integration.test_cloud_events import register, request
from tests.session_bundles import make_bundle

QUOTA = BundleQuota()
GiB = 1024**3


@pytest.fixture
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededApi]:
    with seeded_api(tmp_path_factory.mktemp("quotas")) as api:
        yield api


def new_viewer(api: SeededApi, ttl: int = 3600) -> dict[str, str]:
    with api.client(FIRST_CURATOR) as curator:
        reply = curator.post(
            "/_cellucid/viewers", json={"dataset_id": api.seeded.dataset_id, "ttl_seconds": ttl}
        )
    assert reply.status_code == 201, reply.text
    return {k: reply.json()[k] for k in ("viewerId", "viewerToken")}


def post_bundle(api: SeededApi, creds: dict[str, str], request_id: str) -> httpx.Response:
    return httpx.post(
        f"{api.base_url}/_cellucid/session_bundle",
        params={**creds, "requestId": request_id},
        content=make_bundle(),
        headers={"Content-Type": "application/octet-stream"},
    )


def upload_url(api: SeededApi, creds: dict[str, str], request_id: str, size: int) -> httpx.Response:
    return httpx.post(
        f"{api.base_url}/_cellucid/session_bundle/upload-url",
        params={**creds, "requestId": request_id, "size": str(size)},
    )


def test_a_viewer_has_a_bundle_count_and_a_byte_quota(api: SeededApi) -> None:
    """3 x 300 MB used to be granted and stored, 2 GiB each, without end."""
    creds = new_viewer(api)
    assert upload_url(api, creds, "big-1", 2 * GiB).status_code == 200
    assert upload_url(api, creds, "big-2", 2 * GiB).status_code == 200
    over = upload_url(api, creds, "big-3", 1)
    assert over.status_code == 413 and "more than its" in over.json()["detail"]
    other = new_viewer(api)
    for number in range(QUOTA.viewer_bundles):
        assert post_bundle(api, other, f"r{number}").status_code == 200
    refused = post_bundle(api, other, "one-more")
    assert refused.status_code == 413 and "session bundles" in refused.json()["detail"]
    listed = httpx.get(f"{api.base_url}/_cellucid/session_bundles", params=other).json()
    assert len(listed["bundles"]) == QUOTA.viewer_bundles


def test_the_deployment_has_a_daily_quota(api: SeededApi) -> None:
    granted = 0
    while granted + 2 * GiB <= QUOTA.daily_bytes:
        creds = new_viewer(api)
        for name in ("a", "b"):
            if granted + 2 * GiB <= QUOTA.daily_bytes:
                assert upload_url(api, creds, name, 2 * GiB).status_code == 200
                granted += 2 * GiB
    refused = upload_url(api, new_viewer(api), "late", 2 * GiB)
    assert refused.status_code == 413 and "for today" in refused.json()["detail"]


def test_a_bundle_upload_url_takes_one_put(api: SeededApi) -> None:
    creds = new_viewer(api)
    bundle = make_bundle()
    grant = upload_url(api, creds, "once", len(bundle)).json()
    assert httpx.put(grant["url"], content=bundle, headers=grant["headers"]).status_code == 200
    again = httpx.put(grant["url"], content=bundle, headers=grant["headers"])
    assert again.status_code == 409


def test_bundles_expire_with_their_viewer(api: SeededApi) -> None:
    """Their files and records go once the viewer has expired (they used to stay forever);
    an upload URL issued to it takes nothing any more."""
    stack = api.stack
    creds = new_viewer(api, ttl=60)
    assert post_bundle(api, creds, "kept-too-long").status_code == 200
    pending = upload_url(api, creds, "never-sent", 100).json()
    folder = stack.data_dir / "sessions" / creds["viewerId"]
    assert [p.name for p in folder.iterdir()] == ["kept-too-long.cellucid-session"]
    real_clock = stack.events.clock
    stack.events.clock = lambda: real_clock() + 120
    try:
        survivor = new_viewer(api)  # any token-checked request expires what is due
        assert httpx.get(f"{api.base_url}/_cellucid/events", params=survivor).status_code == 200
        assert list(folder.iterdir()) == []
        with sqlite3.connect(stack.data_dir / "events.sqlite3") as db:
            rows = db.execute(
                "SELECT COUNT(*) FROM bundles WHERE viewer_id = ?", (creds["viewerId"],)
            ).fetchone()
        assert rows == (0,)
        late = httpx.put(pending["url"], content=bytes(100), headers=pending["headers"])
        assert late.status_code == 410
    finally:
        stack.events.clock = real_clock


# -- the AWS twin: the events function on moto -----------------------------------------------


@pytest.fixture(scope="module")
def cloud(moto_server: str) -> Iterator[CloudStack]:
    with cloud_stack(moto_server) as stack:
        yield stack


def call(cloud: CloudStack, http_event: dict[str, Any]) -> tuple[int, Any]:
    reply = cloud.events(http_event)
    return reply["statusCode"], json.loads(reply["body"]) if reply.get("body") else None


def test_on_aws_the_events_function_keeps_the_same_quotas(cloud: CloudStack) -> None:
    dataset_id = published_collection(cloud.catalog, 1)[1][0]
    token = cloud.auth.issue_token(CURATOR)
    creds = register(cloud.events, dataset_id, token)
    url = "/_cellucid/session_bundle/upload-url"
    for name in ("big-1", "big-2"):
        status, grant = call(
            cloud, request("POST", url, query={**creds, "requestId": name, "size": str(2 * GiB)})
        )
        assert status == 200, grant
    status, refused = call(
        cloud, request("POST", url, query={**creds, "requestId": "big-3", "size": "1"})
    )
    assert status == 413 and "more than its" in refused["detail"]
    other = register(cloud.events, dataset_id, token)
    bundle = make_bundle()
    for number in range(QUOTA.viewer_bundles + 1):
        status, answer = call(
            cloud,
            request(
                "POST",
                "/_cellucid/session_bundle",
                query={**other, "requestId": f"r{number}"},
                body=bundle,
                content_type="application/octet-stream",
            ),
        )
        expected = 200 if number < QUOTA.viewer_bundles else 413
        assert status == expected, (number, answer)
