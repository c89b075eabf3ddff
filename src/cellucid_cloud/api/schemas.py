"""Request and response bodies of the HTTP API (they also make the OpenAPI document); the
public documents are :mod:`cellucid_cloud.catalog.documents`.

Request bodies forbid unknown fields: a typo in a curator's script is a 422 naming the field,
not a silently ignored setting.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, HttpUrl, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from cellucid_cloud.catalog.models import Link

__all__ = [
    "CollectionCreated",
    "CollectionPatch",
    "CompletedPart",
    "DatasetCreate",
    "DatasetCreated",
    "ErrorBody",
    "LinkIngest",
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
