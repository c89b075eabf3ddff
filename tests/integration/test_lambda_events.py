"""Every sample event in ``events/`` is accepted by its handler (one test per file).

The events keep the made-up ids AWS documentation would show; each test swaps in live ones
(``tests.cloud.event``) for a catalog built on the moto server through the real use cases.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from cellucid_cloud.catalog.models import Dataset, DatasetStatus, DatasetVersion
from tests.catalog_data import CURATOR, METADATA, published_collection, upload_ready
from tests.cloud import (
    EVENTS,
    PUBLIC_BASE_URL,
    CloudStack,
    cloud_stack,
    event,
    json_reply,
    with_json_body,
)
from tests.export_data import make_adata


@pytest.fixture(scope="module")
def stack(moto_server: str) -> Iterator[CloudStack]:
    with cloud_stack(moto_server) as stack:
        yield stack


@pytest.fixture(scope="module")
def token(stack: CloudStack) -> str:
    return stack.auth.issue_token(CURATOR)


@pytest.fixture(scope="module")
def published(stack: CloudStack) -> tuple[str, str]:
    """A published collection with one ready dataset: (collection id, dataset id)."""
    collection_id, (dataset_id,) = published_collection(stack.catalog, 1)
    return collection_id, dataset_id


def private_dataset(stack: CloudStack) -> tuple[str, str]:
    view = stack.catalog.create_collection(CURATOR, METADATA)
    collection_id = view.collection.collection_id
    return collection_id, stack.catalog.add_dataset(CURATOR, collection_id, "d").dataset_id


def call(stack: CloudStack, path: str, **live: str) -> tuple[int, Any]:
    reply = stack.api(event(path, **live))
    return reply["statusCode"], json_reply(reply) if reply.get("body") else None


def version_id_of(stack: CloudStack, dataset_id: str) -> str:
    """The version a dataset's canonical URL shows."""
    dataset = stack.repository.get(Dataset, dataset_id)
    assert dataset is not None
    return dataset.version_id


# -- public routes ---------------------------------------------------------------------------


def test_health(stack: CloudStack) -> None:
    status, body = call(stack, "api/health.json")
    assert status == 200 and body["status"] == "ok"


def test_info(stack: CloudStack) -> None:
    status, body = call(stack, "api/info.json")
    assert status == 200 and body["mode"] == "aws"


def test_cellucid_datasets(stack: CloudStack, published: tuple[str, str]) -> None:
    status, body = call(stack, "api/cellucid-datasets.json")
    assert status == 200
    assert published[1] in {entry["id"] for entry in body["datasets"]}


def test_datasets_json(stack: CloudStack, published: tuple[str, str]) -> None:
    status, body = call(stack, "api/datasets-json.json")
    version_id = version_id_of(stack, published[1])
    assert status == 200 and body["version"] == 1
    assert {"id": published[1], "path": f"exports/{version_id}/"}.items() <= next(
        entry for entry in body["datasets"] if entry["id"] == published[1]
    ).items()


@pytest.mark.parametrize("path", ["api/meta.json", "api/meta-rfc-spelling.json"])
def test_meta(stack: CloudStack, published: tuple[str, str], path: str) -> None:
    collection_id, dataset_id = published
    status, body = call(stack, path, dataset_id=dataset_id)
    version_id = version_id_of(stack, dataset_id)
    assert status == 200
    assert body["collection_id"] == collection_id
    assert body["collection_visibility"] == "PUBLIC"
    assert body["export_url"] == f"{PUBLIC_BASE_URL}/exports/{version_id}/"
    assert body["explorer_s3_uri"] == f"s3://{stack.exports_bucket}/exports/{version_id}/"


def test_meta_for_an_unknown_dataset_is_a_json_404(stack: CloudStack) -> None:
    status, body = call(stack, "api/meta.json")
    assert status == 404 and body["detail"] == "no dataset at this URL"


def test_collection(stack: CloudStack, published: tuple[str, str]) -> None:
    collection_id, dataset_id = published
    status, body = call(stack, "api/collection.json", collection_id=collection_id)
    assert status == 200
    assert [d["dataset_id"] for d in body["datasets"]] == [dataset_id]


# -- curation --------------------------------------------------------------------------------


def test_curation_token(stack: CloudStack) -> None:
    api_key = stack.auth.create_api_key(CURATOR, "events test")
    status, body = call(stack, "api/curation-token.json", api_key=api_key)
    assert status == 200
    assert stack.auth.curator_for_token(body["access_token"]) == CURATOR
    status, body = call(stack, "api/curation-token.json")  # the sample's made-up key
    assert status == 401 and "API key" in body["detail"]


def test_curation_list_collections(
    stack: CloudStack, token: str, published: tuple[str, str]
) -> None:
    status, body = call(stack, "api/curation-list-collections.json", token=token)
    assert status == 200 and published[0] in {c["collection_id"] for c in body}


def test_curation_without_a_valid_token_is_401(stack: CloudStack) -> None:
    status, body = call(stack, "api/curation-list-collections.json")
    assert status == 401 and body["detail"] == "invalid access token"


def test_curation_create_collection(stack: CloudStack, token: str) -> None:
    status, body = call(stack, "api/curation-create-collection.json", token=token)
    assert status == 201
    created = stack.catalog.version_for(body["collection_id"])
    assert created.version.metadata.name == "Lung atlas"


def test_curation_get_collection(stack: CloudStack, token: str, published: tuple[str, str]) -> None:
    status, body = call(
        stack, "api/curation-get-collection.json", token=token, collection_id=published[0]
    )
    assert status == 200 and body["visibility"] == "PUBLIC"


def test_curation_patch_collection(stack: CloudStack, token: str) -> None:
    collection_id, _ = private_dataset(stack)
    status, body = call(
        stack, "api/curation-patch-collection.json", token=token, collection_id=collection_id
    )
    assert status == 200 and body["description"].endswith("and Smart-seq2")


def test_curation_create_dataset(stack: CloudStack, token: str) -> None:
    collection_id, _ = private_dataset(stack)
    status, body = call(
        stack, "api/curation-create-dataset.json", token=token, collection_id=collection_id
    )
    assert status == 201 and body["dataset_id"]


def test_curation_upload_url(stack: CloudStack, token: str) -> None:
    collection_id, dataset_id = private_dataset(stack)
    ids = {"token": token, "collection_id": collection_id, "dataset_id": dataset_id}
    status, body = call(stack, "api/curation-upload-url.json", **ids)
    assert status == 200
    assert body["key"] == f"{stack.catalog.version_for(collection_id).version.version_id}/" + (
        f"{dataset_id}.h5ad"
    )
    query = parse_qs(urlsplit(body["url"]).query)
    assert "content-length" in query["X-Amz-SignedHeaders"][0].split(";")
    assert body["max_bytes"] == 1048576 and body["expires_in"] <= 900

    without_size = with_json_body(event("api/curation-upload-url.json", **ids), {})
    reply = stack.api(without_size)
    assert reply["statusCode"] == 422
    assert '"size"' in json_reply(reply)["detail"]


def test_curation_ingest_link_is_refused_on_aws(
    stack: CloudStack, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve = socket.getaddrinfo

    def dropbox_resolves(host: str, *args: Any, **kwargs: Any) -> Any:  # no DNS here
        if host == "www.dropbox.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("162.125.1.18", 443))]
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", dropbox_resolves)
    collection_id, dataset_id = private_dataset(stack)
    status, body = call(
        stack,
        "api/curation-ingest-link.json",
        token=token,
        collection_id=collection_id,
        dataset_id=dataset_id,
    )
    assert status == 501 and "upload URL" in body["detail"]


def test_curation_get_dataset(stack: CloudStack, token: str, published: tuple[str, str]) -> None:
    collection_id, dataset_id = published
    status, body = call(
        stack,
        "api/curation-get-dataset.json",
        token=token,
        collection_id=collection_id,
        dataset_id=dataset_id,
    )
    assert status == 200 and body["status"] == "ready"


def test_curation_publish(stack: CloudStack, token: str) -> None:
    collection_id, dataset_id = private_dataset(stack)
    upload_ready(stack.catalog, collection_id, dataset_id, "v1")
    status, body = call(
        stack, "api/curation-publish.json", token=token, collection_id=collection_id
    )
    assert status == 200 and body["visibility"] == "PUBLIC"


def test_curation_start_revision(stack: CloudStack, token: str) -> None:
    collection_id, _ = published_collection(stack.catalog, 1)
    status, body = call(
        stack, "api/curation-start-revision.json", token=token, collection_id=collection_id
    )
    assert status == 201 and body["collection_id"] != collection_id


def test_curation_delete_dataset(stack: CloudStack, token: str) -> None:
    collection_id, dataset_id = private_dataset(stack)
    status, _ = call(
        stack,
        "api/curation-delete-dataset.json",
        token=token,
        collection_id=collection_id,
        dataset_id=dataset_id,
    )
    assert status == 204
    assert dataset_id not in stack.catalog.version_for(collection_id).version.datasets


def test_curation_delete_collection(stack: CloudStack, token: str) -> None:
    collection_id, _ = private_dataset(stack)
    status, _ = call(
        stack, "api/curation-delete-collection.json", token=token, collection_id=collection_id
    )
    assert status == 204


# -- prepare ---------------------------------------------------------------------------------


def test_prepare_s3_put_via_sqs(stack: CloudStack, tmp_path: Path) -> None:
    collection_id, dataset_id = private_dataset(stack)
    path = tmp_path / "upload.h5ad"
    make_adata(n_cells=120, n_genes=12).write_h5ad(path)
    stack.s3.upload_file(str(path), stack.uploads_bucket, f"{collection_id}/{dataset_id}.h5ad")
    sqs_event = event(
        "prepare/s3-put-via-sqs.json",
        uploads_bucket=stack.uploads_bucket,
        collection_id=collection_id,
        dataset_id=dataset_id,
    )
    assert stack.prepare(sqs_event) == {"batchItemFailures": []}
    version = stack.repository.get(DatasetVersion, version_id_of(stack, dataset_id))
    assert version is not None and version.status is DatasetStatus.READY
    assert version.stats is not None and version.stats.n_cells == 120


def test_prepare_s3_test_event_via_sqs(stack: CloudStack) -> None:
    sqs_event = event("prepare/s3-test-event-via-sqs.json")
    assert stack.prepare(sqs_event) == {"batchItemFailures": []}


def test_every_sample_event_has_a_test() -> None:
    source = Path(__file__).read_text()
    samples = {path.relative_to(EVENTS).as_posix() for path in EVENTS.rglob("*.json")}
    assert samples and {sample for sample in samples if f'"{sample}"' not in source} == set()
