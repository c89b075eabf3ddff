"""The public documents the portal pages and the cellxgene explorer read: the collection list,
collection documents in our and the portal's names, private answers and downloads."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellucid_cloud.catalog.documents import as_json
from cellucid_cloud.catalog.meta import MetaService, download_file_name
from cellucid_cloud.catalog.models import (
    SCHEMA_FIELDS,
    CollectionMetadata,
    DatasetStats,
    DatasetVersion,
    Link,
    OntologyTerm,
)
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.catalog.sqlite_repository import SqliteCatalogRepository
from cellucid_cloud.core.errors import NotFoundError
from cellucid_cloud.export.schema_terms import SCHEMA_TERM_FIELDS
from tests.catalog_data import (
    CURATOR,
    METADATA,
    FakeExports,
    accept,
    published_collection,
    upload_ready,
)

HUMAN = OntologyTerm(label="Homo sapiens", ontology_term_id="NCBITaxon:9606")
LUNG = OntologyTerm(label="lung", ontology_term_id="UBERON:0002048")


@pytest.fixture
def catalog(tmp_path: Path) -> CatalogService:
    return CatalogService(SqliteCatalogRepository(tmp_path / "catalog.sqlite3"))


def meta_of(catalog: CatalogService) -> MetaService:
    return MetaService(catalog, FakeExports(), "https://h", ttl=0, clock=lambda: 0.0)


def ready_with_terms(catalog: CatalogService, cid: str, dataset_id: str, tag: str) -> str:
    version = accept(catalog, cid, dataset_id, f"{tag}.h5ad")
    assert catalog.start_processing(version.version_id) is not None
    catalog.finish_processing(
        version.version_id,
        export_prefix=f"exports/{version.version_id}/",
        stats=DatasetStats(
            name=f"Lung {tag}",
            n_cells=100,
            n_genes=7,
            bytes=10,
            source_bytes=12345,
            organism=(HUMAN,),
            tissue=(LUNG,),
        ),
        etag=tag,
    )
    return version.version_id


def test_the_catalog_and_the_export_collect_the_same_schema_fields() -> None:
    assert SCHEMA_TERM_FIELDS == SCHEMA_FIELDS


def test_a_published_collection_in_our_names_and_the_portals(catalog: CatalogService) -> None:
    metadata = METADATA.model_copy(
        update={"links": [Link(name="Paper", type="DOI", url="https://doi.org/10.1/x")]}
    )
    cid = catalog.create_collection(CURATOR, metadata).collection.collection_id
    dataset_id = catalog.add_dataset(CURATOR, cid, "Lung").dataset_id
    version_id = ready_with_terms(catalog, cid, dataset_id, "one")
    catalog.publish(CURATOR, cid)
    document = as_json(meta_of(catalog).collection(cid))
    assert (document["id"], document["collection_id"]) == (cid, cid)
    assert document["visibility"] == "PUBLIC"
    assert document["page_url"] == f"https://h/collections/{cid}"
    assert document["links"] == [
        {
            "name": "Paper",
            "type": "DOI",
            "url": "https://doi.org/10.1/x",
            "link_name": "Paper",
            "link_type": "DOI",
            "link_url": "https://doi.org/10.1/x",
        }
    ]
    [entry] = document["datasets"]
    assert entry["id"] == entry["dataset_id"] == dataset_id
    assert entry["dataset_version_id"] == version_id
    assert entry["name"] == "Lung one"
    assert entry["cell_count"] == entry["n_cells"] == 100
    assert entry["dataset_deployments"] == [{"url": f"https://h/e/{dataset_id}/"}]
    assert (entry["published"], entry["tombstone"]) == (True, False)
    assert entry["organism"] == [{"label": "Homo sapiens", "ontology_term_id": "NCBITaxon:9606"}]
    assert entry["tissue"] == [{"label": "lung", "ontology_term_id": "UBERON:0002048"}]
    assert entry["assay"] == entry["disease"] == []
    assert entry["download"] == {
        "url": f"https://h/dp/v1/datasets/{dataset_id}/download",
        "file_name": "Lung_one.h5ad",
        "size_bytes": 12345,
    }


def test_an_unpublished_collection_shows_only_by_its_private_id(catalog: CatalogService) -> None:
    view = catalog.create_collection(CURATOR, METADATA)
    cid, private_id = view.collection.collection_id, view.version.version_id
    dataset_id = catalog.add_dataset(CURATOR, cid, "Lung").dataset_id
    upload_ready(catalog, cid, dataset_id, "one")
    meta = meta_of(catalog)
    with pytest.raises(NotFoundError):
        meta.collection(cid)
    document = as_json(meta.collection(private_id))
    assert (document["id"], document["visibility"]) == (private_id, "PRIVATE")
    assert document["page_url"] == f"https://h/collections/{private_id}"
    [entry] = document["datasets"]
    assert (entry["published"], entry["download"]) == (False, None)
    # The meta answer of its dataset names that private id, so the explorer can read it.
    answer = meta.lookup(f"https://h/e/{dataset_id}/").value
    assert answer is not None and answer.collection_visibility == "PRIVATE"
    assert answer.collection_id == private_id
    assert answer.s3_uri == answer.explorer_s3_uri is not None
    assert as_json(meta.collections().value) == {"collections": []}
    assert meta.datasets_json().value is None
    with pytest.raises(NotFoundError):
        meta.original(dataset_id)


def test_a_revision_is_private_and_offers_only_the_published_download(
    catalog: CatalogService,
) -> None:
    cid, [kept, replaced] = published_collection(catalog)
    revision = catalog.start_revision(CURATOR, cid).version.version_id
    new_version = upload_ready(catalog, revision, replaced, "v2")
    meta = meta_of(catalog)
    document = as_json(meta.collection(revision))
    assert (document["id"], document["revision_of"]) == (revision, cid)
    entries = {e["id"]: e for e in document["datasets"]}
    assert entries[kept]["published"] is True
    assert entries[kept]["explorer_url"] != f"https://h/e/{kept}/"  # private version URL
    assert entries[replaced]["dataset_version_id"] == new_version
    assert (entries[replaced]["published"], entries[replaced]["download"]) == (False, None)
    private = meta.lookup(f"/e/{new_version}/").value
    assert private is not None and private.collection_id == revision
    public = meta.lookup(f"/e/{replaced}/").value
    assert public is not None and public.collection_id == cid
    assert meta.collection(cid).id == cid


def test_the_collection_list_is_public_newest_first_with_counts(catalog: CatalogService) -> None:
    older, _ = published_collection(catalog, n_datasets=2)
    view = catalog.create_collection(
        CURATOR, CollectionMetadata(name="Newer", contact_name="B", contact_email="b@example.org")
    )
    newer = view.collection.collection_id
    dataset_id = catalog.add_dataset(CURATOR, newer, "x").dataset_id
    ready_with_terms(catalog, newer, dataset_id, "a")
    catalog.publish(CURATOR, newer)
    catalog.create_collection(CURATOR, METADATA)  # a draft: never listed
    listed = as_json(meta_of(catalog).collections().value)
    assert listed is not None
    assert [c["id"] for c in listed["collections"]] == [newer, older]
    first, second = listed["collections"]
    assert (first["name"], first["dataset_count"], first["cell_count"]) == ("Newer", 1, 100)
    assert first["organism"] == [HUMAN.model_dump()]
    assert (second["dataset_count"], second["cell_count"]) == (2, 20)
    assert second["organism"] == []


def test_only_a_public_datasets_original_is_handed_out(catalog: CatalogService) -> None:
    cid, [dataset_id, _] = published_collection(catalog)
    meta = meta_of(catalog)
    original = meta.original(dataset_id)
    assert original.key.startswith(f"{cid}/{dataset_id}/") and original.key.endswith(".h5ad")
    assert original.etag == "v1-0"
    for unknown in ("nope", cid):
        with pytest.raises(NotFoundError):
            meta.original(unknown)


@pytest.mark.parametrize(
    ("name", "source", "expected"),
    [
        ("Lung atlas (v2)", "c/d.h5ad", "Lung_atlas_v2.h5ad"),
        ("../../etc/passwd", "c/d.zarr.zip", "etc_passwd.zarr.zip"),
        ("Лёгкое", "c/d.h5ad", "d-id.h5ad"),
    ],
)
def test_download_names_are_portable(name: str, source: str, expected: str) -> None:
    version = DatasetVersion.model_validate(
        {
            "version_id": "v",
            "dataset_id": "d-id",
            "collection_id": "c",
            "name": name,
            "source": source,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
    )
    assert download_file_name(version) == expected
