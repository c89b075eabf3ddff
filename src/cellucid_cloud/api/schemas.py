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
    "CollectionPatch",
    "DatasetCreate",
    "DatasetCreated",
    "DatasetDocument",
    "DatasetEntry",
    "ErrorBody",
    "LinkIngest",
    "MetaAnswer",
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
    """The collection version that will receive the file."""


class TokenAnswer(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class CollectionCreated(BaseModel):
    collection_id: str


class DatasetCreated(BaseModel):
    dataset_id: str


class UploadUrlAnswer(BaseModel):
    url: str
    headers: dict[str, str]
    key: str
    expires_in: int
    max_bytes: int


class MetaAnswer(BaseModel):
    """A live dataset has the locations; a withdrawn one has ``tombstoned`` and the contact."""

    dataset_id: str
    dataset_version_id: str | None = None
    collection_id: str
    collection_visibility: Literal["PUBLIC", "PRIVATE"]
    explorer_url: str
    explorer_s3_uri: str | None = None
    export_url: str | None = None
    tombstoned: bool
    status: Literal["waiting", "processing", "ready", "failed"] | None = None
    """The version's state (live datasets only): the viewer says "processing" or "failed"."""
    reason: str | None = None
    """Why it failed, without server paths or private ids."""
    contact: Contact | None = None


class DatasetEntry(BaseModel):
    dataset_id: str
    dataset_version_id: str
    name: str
    n_cells: int | None
    n_genes: int | None
    status: Literal["waiting", "processing", "ready", "failed"]
    reason: str | None
    explorer_url: str
    export_url: str | None


class DatasetDocument(DatasetEntry):
    collection_id: str
    collection_version_id: str


class CollectionDocument(BaseModel):
    collection_id: str
    collection_version_id: str
    visibility: Literal["PUBLIC", "PRIVATE"]
    revision_of: str | None
    name: str
    description: str
    contact_name: str
    contact_email: str
    links: list[dict[str, str]]
    created_at: str
    published_at: str | None
    revised_at: str | None
    datasets: list[DatasetEntry]
