"""Catalog states built through the real use cases (no prepare run: versions are marked
ready with a made-up export prefix, which is all the catalog itself looks at)."""

from __future__ import annotations

from pathlib import Path

from cellucid_cloud.catalog.models import CollectionMetadata, DatasetStats, DatasetVersion, new_id
from cellucid_cloud.catalog.service import CatalogService

CURATOR = "curator-a"
METADATA = CollectionMetadata(
    name="Lung atlas", contact_name="Ada Lovelace", contact_email="ada@example.org"
)


class FakeExports:
    """An object store that only answers ``uri`` (the catalog never reads exports)."""

    def uri(self, key: str) -> str:
        return f"s3://exports-bucket/{key}"

    def put_folder(self, prefix: str, folder: Path) -> int:
        raise AssertionError("not used")

    def fetch(self, key: str, destination: Path) -> str:
        raise AssertionError("not used")

    def exists(self, key: str) -> bool:
        return False

    def delete_prefix(self, prefix: str) -> None:
        raise AssertionError("not used")


def accept(
    catalog: CatalogService, collection_or_version_id: str, dataset_id: str, name: str = ""
) -> DatasetVersion:
    """Accept an upload of ``dataset_id`` (as issuing its URL does); its new version."""
    _, version = catalog.accept_upload(
        CURATOR,
        collection_or_version_id,
        dataset_id,
        upload_id=new_id(),
        suffix=".h5ad",
        file_name=name,
        expires_in=900,
    )
    return version


def upload_ready(
    catalog: CatalogService, collection_or_version_id: str, dataset_id: str, tag: str
) -> str:
    """Record an upload of ``dataset_id`` and mark its new version ready (its file's ETag is
    ``tag``); its version id."""
    version = accept(catalog, collection_or_version_id, dataset_id, f"{tag}.h5ad")
    claimed = catalog.start_processing(version.version_id)
    assert claimed is not None
    catalog.finish_processing(
        version.version_id,
        export_prefix=f"exports/{version.version_id}/",
        stats=DatasetStats(name=tag, n_cells=10, n_genes=5, bytes=100),
        etag=tag,
    )
    return version.version_id


def published_collection(catalog: CatalogService, n_datasets: int = 2) -> tuple[str, list[str]]:
    """A published collection with ``n_datasets`` ready datasets: (collection id, dataset ids)."""
    view = catalog.create_collection(CURATOR, METADATA)
    cid = view.collection.collection_id
    ids = []
    for i in range(n_datasets):
        dataset_id = catalog.add_dataset(CURATOR, cid, f"d{i}").dataset_id
        upload_ready(catalog, cid, dataset_id, f"v1-{i}")
        ids.append(dataset_id)
    catalog.publish(CURATOR, cid)
    return cid, ids
