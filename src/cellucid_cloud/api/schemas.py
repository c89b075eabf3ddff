"""Request and response bodies of the HTTP API (they also make the OpenAPI document).

Request bodies forbid unknown fields: a typo in a curator's script is a 422 naming the field,
not a silently ignored setting.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, HttpUrl, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from cellucid_cloud.catalog.models import Contact, Link

__all__ = [
    "CollectionCreated",
    "CollectionDocument",
    "CollectionList",
    "CollectionPatch",
    "CompletedPart",
    "DatasetCreate",
    "DatasetCreated",
    "DatasetDocument",
    "DatasetEntry",
    "DatasetsJson",
    "ErrorBody",
    "LinkIngest",
    "MetaAnswer",
    "MultipartAnswer",
    "MultipartComplete",
    "MultipartRequest",
    "PartUrlAnswer",
    "PartUrlsAnswer",
    "PartUrlsRequest",
    "TokenAnswer",
    "UploadUrlAnswer",
    "UploadUrlRequest",
    "error_response",
]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CollectionPatch(Body):
    """Only the fields sent change. None means "not sent": the route refuses an explicit
    null, so the schema does not offer one."""

    name: Name | SkipJsonSchema[None] = None
    description: Annotated[str, StringConstraints(max_length=20_000)] | SkipJsonSchema[None] = None
    contact_name: Name | SkipJsonSchema[None] = None
    contact_email: EmailStr | SkipJsonSchema[None] = None
    links: Annotated[list[Link], Field(max_length=100)] | SkipJsonSchema[None] = None


class DatasetCreate(Body):
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=400)] = ""


class UploadUrlRequest(Body):
    format: Literal["h5ad", "zarr.zip"] = "h5ad"
    size: Annotated[int, Field(ge=1)] | None = None
    """The file's size in bytes: refused at once when over the cap. Required on AWS, where the
    presigned URL signs this exact length."""
    file_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] = ""
    """The curator's name for the file; failure reasons name it."""


class MultipartRequest(Body):
    format: Literal["h5ad", "zarr.zip"] = "h5ad"
    size: Annotated[int, Field(ge=1)]
    """The file's size in bytes: the parts are cut from it, and it must be within the cap."""
    file_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] = ""
    """The curator's name for the file; failure reasons name it."""


class PartUrlsRequest(Body):
    parts: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=100)]
    """Part numbers (at most 100 per request; ask again as the transfer goes on)."""


class CompletedPart(Body):
    part_number: Annotated[int, Field(ge=1)]
    etag: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    """The ``ETag`` header of the part's PUT answer."""


class MultipartComplete(Body):
    parts: Annotated[list[CompletedPart], Field(min_length=1, max_length=10_000)]


class LinkIngest(Body):
    link: HttpUrl


class ErrorBody(BaseModel):
    """Every error response: a message for a human and the HTTP status again."""

    detail: str
    status: int


def error_response(description: str) -> dict[str, Any]:
    """An OpenAPI ``responses`` entry for an error status."""
    return {"model": ErrorBody, "description": description}


class LinkAccepted(BaseModel):
    dataset_id: str
    collection_id: str
    """The collection (or revision) that will receive the file."""
    upload_id: str


class TokenAnswer(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class CollectionCreated(BaseModel):
    collection_id: str


class DatasetCreated(BaseModel):
    dataset_id: str


class UploadUrlAnswer(BaseModel):
    """The upload is accepted when this is answered: from now on the dataset reports it."""

    url: str
    headers: dict[str, str]
    key: str
    expires_in: int
    max_bytes: int
    upload_id: str
    dataset_version_id: str
    """The version the upload will become (the dataset's current one from now on)."""


class MultipartAnswer(BaseModel):
    """A multipart upload, accepted like an upload URL's (the dataset reports it from now on):
    send parts 1 to ``part_count``, ``part_size`` bytes each but the last, to the URLs that
    ``part-urls`` hands out, then ``complete`` it within ``expires_in`` seconds."""

    upload_id: str
    dataset_version_id: str
    key: str
    size: int
    part_size: int
    part_count: int
    max_part_urls: int
    """Part URLs per ``part-urls`` request."""
    expires_in: int


class PartUrlAnswer(BaseModel):
    part_number: int
    url: str
    size: int
    """The part's exact length: its URL takes no other."""
    headers: dict[str, str]


class PartUrlsAnswer(BaseModel):
    parts: list[PartUrlAnswer]
    expires_in: int
    """Seconds each URL stays valid."""


class MetaAnswer(BaseModel):
    """A live dataset has the locations; a withdrawn one has ``tombstoned`` and the contact.

    ``s3_uri`` is the data portal's name for the export's location (the cellxgene explorer
    reads it), ``explorer_s3_uri`` the RFC's: the same value. A private answer's
    ``collection_id`` is the id of the unpublished collection version the dataset is in, as the
    portal answers it."""

    dataset_id: str
    dataset_version_id: str | None = None
    collection_id: str
    collection_visibility: Literal["PUBLIC", "PRIVATE"]
    explorer_url: str
    explorer_s3_uri: str | None = None
    s3_uri: str | None = None
    export_url: str | None = None
    tombstoned: bool
    status: Literal["waiting", "processing", "ready", "failed"] | None = None
    """The version's state (live datasets only): the viewer says "processing" or "failed"."""
    reason: str | None = None
    """Why it failed, without server paths or private ids."""
    contact: Contact | None = None


class OntologyTermOut(BaseModel):
    """A CELLxGENE schema value as the portal lists it."""

    label: str
    ontology_term_id: str
    """Empty when the file has the label column but not the ontology id column."""


class Deployment(BaseModel):
    url: str


class Download(BaseModel):
    """The original uploaded file of a public dataset."""

    url: str
    """``GET`` it: the file itself (``up``) or a redirect to a short-lived URL (AWS)."""
    file_name: str
    size_bytes: int | None
    """Known before the click (None only for datasets processed before sizes were kept)."""


class DatasetEntry(BaseModel):
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
    status: Literal["waiting", "processing", "ready", "failed"]
    reason: str | None
    explorer_url: str
    export_url: str | None
    dataset_deployments: list[Deployment]
    """The portal's list of explorer URLs: one once the export is ready, else empty."""
    published: bool
    tombstone: Literal[False]
    organism: list[OntologyTermOut]
    tissue: list[OntologyTermOut]
    assay: list[OntologyTermOut]
    disease: list[OntologyTermOut]
    download: Download | None
    """Only for the dataset's current public version."""


class RefusedUpload(BaseModel):
    """A file put for the dataset that was not taken (dropped into a published collection
    with no open revision), newer than the dataset's current upload."""

    upload_id: str
    file_name: str
    reason: str
    refused_at: str


class DatasetDocument(DatasetEntry):
    collection_id: str
    collection_version_id: str
    refused_upload: RefusedUpload | None
    """Set until an upload accepted later replaces it."""


class CollectionLink(BaseModel):
    name: str
    type: str
    url: str
    link_name: str
    link_type: str
    link_url: str


class CollectionDocument(BaseModel):
    id: str
    """The id this document is published under: the canonical collection id for a published
    version, the version id for an unpublished one (the portal's ``id``)."""
    collection_id: str
    collection_version_id: str
    visibility: Literal["PUBLIC", "PRIVATE"]
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


class CollectionSummary(BaseModel):
    id: str
    name: str
    description: str
    contact_name: str
    contact_email: str
    visibility: Literal["PUBLIC"]
    published_at: str | None
    revised_at: str | None
    dataset_count: int
    cell_count: int
    page_url: str
    organism: list[OntologyTermOut]
    tissue: list[OntologyTermOut]
    assay: list[OntologyTermOut]
    disease: list[OntologyTermOut]


class CollectionList(BaseModel):
    """The public collections, newest first (by first publication)."""

    collections: list[CollectionSummary]


class CatalogEntry(BaseModel):
    id: str
    path: str
    """Relative to the server root: ``exports/<dataset version id>/``."""
    name: str
    description: str
    n_cells: int
    n_genes: int
    collection_id: str


class DatasetsJson(BaseModel):
    """The Cellucid web app's catalog (``?exportsBaseUrl=<this server>``)."""

    version: Literal[1]
    default: str
    datasets: Annotated[list[CatalogEntry], Field(min_length=1)]
