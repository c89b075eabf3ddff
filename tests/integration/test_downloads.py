"""Downloads of a public dataset's original upload: the file itself from ``up`` (size known
before the click, ``Content-Disposition``), a presigned GET of one key for at most 15 minutes
on AWS; never a private dataset's, never a file that replaced the version's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cellucid_cloud.catalog.models import Dataset, DatasetVersion
from cellucid_cloud.local.demo import seed_demo
from tests.catalog_data import CURATOR, METADATA
from tests.cloud import CloudStack, cloud_stack, event, json_reply
from tests.export_data import make_adata
from tests.live_app import serving


def test_up_streams_the_original_of_a_public_dataset_only(tmp_path: Path) -> None:
    with serving(tmp_path / "data", meta_ttl=0) as live:
        live.stack.worker.start()
        try:
            seed_demo(live.stack, n_cells=300, n_genes=20)
        finally:
            live.stack.worker.stop()
        [listed] = httpx.get(f"{live.base_url}/dp/v1/collections").json()["collections"]
        document = httpx.get(f"{live.base_url}/dp/v1/collections/{listed['id']}").json()
        [entry] = document["datasets"]
        offered = entry["download"]
        dataset = live.stack.repository.get(Dataset, entry["id"])
        assert dataset is not None
        version = live.stack.repository.get(DatasetVersion, dataset.version_id)
        assert version is not None and version.source is not None
        original = (live.stack.data_dir / "uploads" / version.source).read_bytes()
        assert offered["size_bytes"] == len(original)
        assert offered["file_name"].endswith(".h5ad")

        head = httpx.head(offered["url"])
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(original))
        got = httpx.get(offered["url"])
        assert got.status_code == 200 and got.content == original
        assert got.headers["content-disposition"] == (
            f'attachment; filename="{offered["file_name"]}"'
        )
        assert got.headers["content-type"] == "application/octet-stream"
        assert got.headers["cache-control"] == "no-store"

        # A draft's dataset (and any unknown id) is not handed out.
        cid = live.stack.catalog.create_collection(CURATOR, METADATA).collection.collection_id
        draft = live.stack.catalog.add_dataset(CURATOR, cid, "x").dataset_id
        for dataset_id in (draft, "nope", entry["dataset_version_id"]):
            missing = httpx.get(f"{live.base_url}/dp/v1/datasets/{dataset_id}/download")
            assert missing.status_code == 404, dataset_id

        # The same key written again: not this version's file any more.
        (live.stack.data_dir / "uploads" / version.source).write_bytes(b"another file")
        gone = httpx.get(offered["url"])
        assert gone.status_code == 410 and gone.json()["status"] == 410
        assert b"another file" not in gone.content


@pytest.fixture
def stack(moto_server: str) -> Iterator[CloudStack]:
    with cloud_stack(moto_server) as stack:
        yield stack


def test_aws_redirects_to_a_short_presigned_get_of_one_key(
    stack: CloudStack, tmp_path: Path
) -> None:
    source = tmp_path / "lung.h5ad"
    make_adata(100, 8).write_h5ad(source)
    cid = stack.catalog.create_collection(CURATOR, METADATA).collection.collection_id
    dataset_id = stack.catalog.add_dataset(CURATOR, cid, "Lung").dataset_id
    key = f"{cid}/{dataset_id}.h5ad"
    stack.s3.upload_file(str(source), stack.uploads_bucket, key)
    assert stack.deliver(stack.receive(2)) == {"batchItemFailures": []}

    def download() -> dict:
        reply: dict = stack.meta(event("meta/dataset-download.json", dataset_id=dataset_id))
        return reply

    assert download()["statusCode"] == 404  # not published yet
    stack.catalog.publish(CURATOR, cid)
    reply = download()
    assert reply["statusCode"] == 302, reply
    assert reply["headers"]["cache-control"] == "no-store"
    url = reply["headers"]["location"]
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path in (f"/{stack.uploads_bucket}/{key}", f"/{key}")
    assert 0 < int(query["X-Amz-Expires"][0]) <= 900
    assert query["response-content-disposition"][0].startswith("attachment; filename=")
    assert httpx.get(url).content == source.read_bytes()

    collection = json_reply(stack.meta(event("meta/collection.json", collection_id=cid)))
    assert collection["datasets"][0]["download"]["size_bytes"] == source.stat().st_size

    stack.s3.put_object(Bucket=stack.uploads_bucket, Key=key, Body=b"replaced")
    stack.receive(1)  # the replacement's notification (its processing is not this test's)
    assert download()["statusCode"] == 410


def test_overlong_ids_are_refused_before_any_store(stack: CloudStack) -> None:
    """DynamoDB answers a key over 2 KiB with a server error: such ids never reach it."""
    http_event = event("meta/dataset-download.json", dataset_id="x" * 3000)
    assert stack.meta(http_event)["statusCode"] == 422
    http_event = event("meta/collection.json", collection_id="x" * 3000)
    assert stack.meta(http_event)["statusCode"] == 422
