"""Multipart uploads through the curation API of the local stack, over real HTTP: the client
sends a file larger than one part in parts (retrying a failed part), gives a failed transfer
up, and the routes refuse what they must. (The AWS path is in test_lambda_events.py; both
stores' adapters in tests/contract/test_multipart_uploads.py.)"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cellucid_cloud.client import ApiError, CurationClient, MultipartUpload, ServerError
from cellucid_cloud.storage.multipart import PART_SIZE
from tests.live_app import Served, serving

CONTACT = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.org"}
SIZE = 2 * PART_SIZE + 12_345  # three parts


class FailingParts(httpx.HTTPTransport):
    """A real transport that answers the first ``failures`` part PUTs with a 500 itself."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.part_puts = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and request.url.path == "/_cellucid/upload":
            self.part_puts += 1
            if self.failures:
                self.failures -= 1
                for _ in request.stream:  # type: ignore[union-attr]
                    pass  # the body is sent, then the store fails
                return httpx.Response(500, text="injected")
        return super().handle_request(request)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path / "data", meta_ttl=0) as live:
        yield live


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.h5ad"
    path.write_bytes(os.urandom(SIZE))
    return path


def new_dataset(curator: CurationClient) -> tuple[str, str]:
    cid = curator.create_collection("Big", **CONTACT)
    return cid, curator.create_dataset(cid, "big")


def test_a_large_file_goes_in_parts_and_a_failed_part_is_sent_again(
    served: Served, big_file: Path
) -> None:
    transport = FailingParts(failures=1)
    sent: list[int] = []
    with CurationClient(
        served.base_url, served.stack.curator_key, httpx.Client(transport=transport)
    ) as curator:
        cid, did = new_dataset(curator)
        accepted = curator.upload(cid, did, big_file, progress=sent.append)
        assert isinstance(accepted, MultipartUpload)
        assert (accepted.part_count, accepted.part_size) == (3, PART_SIZE)
        assert transport.part_puts == 4  # three parts, one of them twice
        assert sum(sent) == SIZE and min(sent) < 0  # the failed part's bytes taken back
        dataset = curator.get_dataset(cid, did)
        assert dataset["dataset_version_id"] == accepted.dataset_version_id
        assert dataset["status"] == "waiting"  # (this server runs no worker)
    stored = served.stack.uploads.path(accepted.key)
    assert stored.read_bytes() == big_file.read_bytes()
    assert list((served.stack.data_dir / "multipart").iterdir()) == []


def test_a_transfer_that_fails_gives_the_upload_up(served: Served, big_file: Path) -> None:
    transport = FailingParts(failures=100)
    with CurationClient(
        served.base_url, served.stack.curator_key, httpx.Client(transport=transport)
    ) as curator:
        cid, did = new_dataset(curator)
        with pytest.raises(ServerError, match="injected"):
            curator.upload(cid, did, big_file)
        dataset = curator.get_dataset(cid, did)
    assert dataset["status"] == "failed"
    assert dataset["reason"] == "big.h5ad: the upload was cancelled before it was complete"
    assert list((served.stack.data_dir / "multipart").iterdir()) == []
    assert not any(served.stack.uploads.root.rglob("*.h5ad"))


def test_the_routes_refuse_what_they_must(served: Served) -> None:
    other_key = served.stack.auth.create_api_key("another-curator")
    with (
        CurationClient(served.base_url, served.stack.curator_key) as curator,
        CurationClient(served.base_url, other_key) as other,
    ):
        cid, did = new_dataset(curator)
        too_big = 20 * 1024**3 + 1
        with pytest.raises(ApiError, match=r"HTTP 422: file too large"):
            curator.start_multipart_upload(cid, did, size=too_big)
        started = curator.start_multipart_upload(cid, did, size=SIZE, file_name="x.h5ad")
        upload_id = started.upload_id
        with pytest.raises(ApiError, match="HTTP 403"):
            other.part_urls(cid, did, upload_id, [1])
        with pytest.raises(ApiError, match="HTTP 404: no multipart upload"):
            curator.part_urls(cid, did, "0" * 8 + "-0000-4000-8000-" + "0" * 12, [1])
        did_2 = curator.create_dataset(cid, "another")
        with pytest.raises(ApiError, match="HTTP 404: no multipart upload"):
            curator.part_urls(cid, did_2, upload_id, [1])  # not this dataset's upload
        with pytest.raises(ApiError, match="HTTP 422: no part 4"):
            curator.part_urls(cid, did, upload_id, [4])
        with pytest.raises(ApiError, match="HTTP 422"):
            curator.part_urls(cid, did, upload_id, list(range(1, 102)))  # 101 at once

        [first] = curator.part_urls(cid, did, upload_id, [1])
        put = httpx.put(first.url, content=b"\0" * first.size, headers=first.headers)
        etags = {1: put.headers["etag"]}
        with pytest.raises(ApiError, match=r"HTTP 422: .*missing 2, 3"):
            curator.complete_multipart_upload(cid, did, upload_id, etags)
        token = httpx.post(
            f"{served.base_url}/curation/v1/auth/token",
            headers={"x-api-key": served.stack.curator_key},
        ).json()["access_token"]
        twice = httpx.post(
            f"{served.base_url}/curation/v1/collections/{cid}/datasets/{did}"
            f"/multipart-upload/{upload_id}/complete",
            json={"parts": [{"part_number": 1, "etag": "a"}, {"part_number": 1, "etag": "b"}]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert (twice.status_code, twice.json()["detail"]) == (422, "each part is listed once")
        curator.abort_multipart_upload(cid, did, upload_id)
        with pytest.raises(ApiError, match=r"HTTP 404: multipart upload .* is over"):
            curator.part_urls(cid, did, upload_id, [2])
        assert httpx.put(first.url, content=b"\0" * first.size).status_code == 404
