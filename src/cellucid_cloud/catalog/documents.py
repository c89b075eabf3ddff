"""The public documents, declared once: the meta answer (read by the cellxgene explorer's dataset
lookup and our viewer), the collection document and list (the public routes, the curation API
and the portal pages) and the Cellucid ``datasets.json`` catalog.

The services build these models, every host serialises them with :func:`as_json` and FastAPI
documents them as its response schemas, so a field is added or renamed in one place. Fields are
declared in the order the JSON lists them; the portal's names (``id``, ``cell_count``,
``link_url``...) sit beside ours, as clients read either.
"""

from collections.abc import Sequence
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from cellucid_cloud.catalog.models import Contact, DatasetStatus, OntologyTerm, Visibility

__all__ = [
    "CatalogEntry",
    "CollectionDocument",
    "CollectionLink",
    "CollectionList",
    "CollectionSummary",
    "DatasetDocument",
    "DatasetEntry",
    "DatasetsJson",
    "Deployment",
    "Download",
    "LiveAnswer",
    "MetaAnswer",
    "PublishedEntry",
    "RefusedUpload",
    "TombstoneAnswer",
    "as_json",
]

Terms = tuple[OntologyTerm, ...]


class Document(BaseModel):
    # Defaults are always written, so the response schemas mark every field required. Built on
    # first use: the meta function (no snapshot) builds only what its first request answers.
    model_config = ConfigDict(
        frozen=True, json_schema_serialization_defaults_required=True, defer_build=True
    )


def as_json(document: BaseModel) -> dict[str, Any]:
    """A document as its JSON object (what the HTTP hosts send)."""
    return document.model_dump(mode="json")


# -- the meta answer -------------------------------------------------------------------------


class LiveAnswer(Document):
    """Where a dataset's export lives. ``s3_uri`` is the data portal's name for the location
    (the cellxgene explorer reads it), ``explorer_s3_uri`` the RFC's: the same value. A private
    answer's ``collection_id`` is the id of the unpublished collection version the dataset is
    in, as the portal answers it."""

    dataset_id: str
    dataset_version_id: str
    collection_id: str
    collection_visibility: Visibility
    explorer_url: str
    explorer_s3_uri: str | None
    s3_uri: str | None
    export_url: str | None
    tombstoned: Literal[False] = False
    status: DatasetStatus
    """The version's state: the viewer says "processing" or "failed"."""
    reason: str | None
    """Why it failed, without server paths or private ids."""


class TombstoneAnswer(Document):
    """A withdrawn dataset: no location, the contact at the time it was withdrawn."""

    dataset_id: str
    collection_id: str
    collection_visibility: Literal[Visibility.PUBLIC] = Visibility.PUBLIC
    explorer_url: str
    tombstoned: Literal[True] = True
    contact: Contact | None


MetaAnswer = LiveAnswer | TombstoneAnswer
"""What an explorer URL shows (``GET /dp/v1/datasets/meta``)."""


# -- collections -----------------------------------------------------------------------------


class Deployment(Document):
    url: str


class Download(Document):
    """The original uploaded file of a public dataset."""

    url: str
    """``GET`` it: the file itself (``up``) or a redirect to a short-lived URL (AWS)."""
    file_name: str
    size_bytes: int | None
    """Known before the click (None only for datasets processed before sizes were kept)."""


class DatasetEntry(Document):
    """A dataset in a collection: our fields and, beside them, the portal's names."""

    id: str
    """The canonical dataset id (the portal's name; the same as ``dataset_id``)."""
    dataset_id: str
    dataset_version_id: str
    name: str
    n_cells: int | None
    n_genes: int | None
    cell_count: int | None
    """The portal's name for ``n_cells``."""
    status: DatasetStatus
    reason: str | None
    explorer_url: str
    export_url: str | None
    dataset_deployments: list[Deployment]
    """The portal's list of explorer URLs: one once the export is ready, else empty."""
    published: bool
    tombstone: Literal[False] = False
    organism: Terms
    tissue: Terms
    assay: Terms
    disease: Terms
    download: Download | None
    """Only for the dataset's current public version."""


class RefusedUpload(Document):
    """A file put for the dataset that was not taken (dropped into a published collection
    with no open revision), newer than the dataset's current upload."""

    upload_id: str
    file_name: str
    reason: str
    refused_at: str


class DatasetDocument(DatasetEntry):
    """A dataset as the curation API shows it: its entry (with the curator's own failure
    reasons), where it is listed, and a drop that was refused."""

    collection_id: str
    collection_version_id: str
    refused_upload: RefusedUpload | None
    """Set until an upload accepted later replaces it."""


class CollectionLink(Document):
    """A link in our names and the portal's (the explorer shows ``link_name``...)."""

    name: str
    type: str
    url: str
    link_name: str
    link_type: str
    link_url: str


class CollectionDocument(Document):
    id: str
    """The id this document is published under: the canonical collection id for a published
    version, the version id for an unpublished one (the portal's ``id``)."""
    collection_id: str
    collection_version_id: str
    visibility: Visibility
    revision_of: str | None
    name: str
    description: str
    contact_name: str
    contact_email: str
    links: list[CollectionLink]
    created_at: str
    published_at: str | None
    revised_at: str | None
    updated_at: str
    page_url: str
    """The collection's page for people."""
    datasets: list[DatasetEntry]


class CollectionSummary(Document):
    id: str
    name: str
    description: str
    contact_name: str
    contact_email: str
    visibility: Literal[Visibility.PUBLIC] = Visibility.PUBLIC
    published_at: str | None
    revised_at: str | None
    dataset_count: int
    cell_count: int
    page_url: str
    organism: Terms
    tissue: Terms
    assay: Terms
    disease: Terms


class CollectionList(Document):
    """The public collections, newest first (by first publication)."""

    collections: list[CollectionSummary]


# -- the Cellucid catalog --------------------------------------------------------------------


class CatalogEntry(Document):
    id: str
    path: str
    """Relative to the server root, one canonical folder ending in ``/``."""
    name: str
    description: str
    n_cells: int
    n_genes: int


class PublishedEntry(CatalogEntry):
    """A published dataset (``exports/<dataset version id>/``) and its collection."""

    collection_id: str


class DatasetsJson[E: CatalogEntry](Document):
    """The Cellucid web app's catalog (``?exportsBaseUrl=<this server>``): ``up``, the meta
    function and ``serve`` all make it with :meth:`listing`."""

    version: Literal[1] = 1
    default: str
    datasets: Annotated[list[E], Field(min_length=1)]

    @classmethod
    def listing(cls, entries: Sequence[E]) -> Self:
        """The catalog of ``entries`` (one at least: the web app refuses an empty list),
        sorted by id, the first being the default."""
        if not entries:
            raise ValueError("datasets.json lists one dataset at least")
        listed = sorted(entries, key=lambda entry: entry.id)
        return cls(default=listed[0].id, datasets=listed)
