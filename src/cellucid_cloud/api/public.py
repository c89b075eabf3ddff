"""The public, read-only answers (meta lookups, collections, the public catalog, the Cellucid
discovery routes, downloads), free of any web framework.

The FastAPI routes (:mod:`cellucid_cloud.api.meta_routes` and ``cellucid_routes``) and the
meta function (:mod:`cellucid_cloud.aws.meta`) both answer with these functions, and
validate their parameters with the types declared here, so a request gets the same answer,
the same cache headers and the same 4xx from either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from cellucid_cloud.catalog.documents import as_json
from cellucid_cloud.catalog.meta import Cached, MetaService
from cellucid_cloud.catalog.urls import MAX_URL_LENGTH
from cellucid_cloud.core.ports import OriginalDownloads
from cellucid_cloud.http.answers import NO_STORE, Answer
from cellucid_cloud.http.conditional import cached_json
from cellucid_cloud.http.errors import error_answer
from cellucid_cloud.storage.downloads import OpenFile, Redirect, attachment

__all__ = [
    "META_PATHS",
    "NO_STORE_HEADERS",
    "CollectionQuery",
    "ExplorerUrl",
    "FileAnswer",
    "MetaQuery",
    "PublicId",
    "VisibilityParam",
    "cellucid_datasets",
    "collection",
    "collections",
    "datasets_json",
    "download",
    "health",
    "info",
    "meta",
]

META_PATHS = ("/dp/v1/datasets/meta", "/dp/v1/meta/datasets")
"""Both spellings of the meta route (the explorer's, and the RFC's)."""
MAX_ID_LENGTH = 200

ExplorerUrl = Annotated[str, StringConstraints(min_length=1, max_length=MAX_URL_LENGTH)]
PublicId = Annotated[str, StringConstraints(max_length=MAX_ID_LENGTH)]
"""Bounded before any store sees it (DynamoDB refuses keys over 2 KiB with a server error)."""
VisibilityParam = Literal["PUBLIC", "PRIVATE"] | None
NO_STORE_HEADERS = {"Cache-Control": NO_STORE, "X-Content-Type-Options": "nosniff"}


class MetaQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: ExplorerUrl


class CollectionQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    visibility: VisibilityParam = None


def _found(document: Cached[BaseModel | None], missing: str, if_none_match: str | None) -> Answer:
    """A cached document, or a 404 saying ``missing``, cached as long (a miss is an answer)."""
    if document.value is None:
        body = {"detail": missing, "status": 404}
        return cached_json(body, document.max_age, if_none_match, 404)
    return cached_json(as_json(document.value), document.max_age, if_none_match)


def meta(service: MetaService, url: str, if_none_match: str | None) -> Answer:
    return _found(service.lookup(url), "no dataset at this URL", if_none_match)


def collections(service: MetaService, if_none_match: str | None) -> Answer:
    document = service.collections()
    return cached_json(as_json(document.value), document.max_age, if_none_match)


def collection(service: MetaService, collection_id: str, if_none_match: str | None) -> Answer:
    return cached_json(as_json(service.collection(collection_id)), 0, if_none_match)


def datasets_json(service: MetaService, if_none_match: str | None) -> Answer:
    return _found(service.datasets_json(), "no dataset is published yet", if_none_match)


def cellucid_datasets(service: MetaService, if_none_match: str | None) -> Answer:
    document = service.datasets_json()
    listed = [
        {"id": d.id, "path": d.path, "name": d.name}
        for d in (document.value.datasets if document.value else [])
    ]
    return cached_json({"datasets": listed}, document.max_age, if_none_match)


def health(server_version: str) -> dict[str, Any]:
    return {"status": "ok", "type": "catalog", "version": server_version}


def info(server_version: str, host: str, port: int | None, mode: str) -> dict[str, Any]:
    return {"version": server_version, "host": host, "port": port, "mode": mode}


@dataclass(frozen=True, slots=True)
class FileAnswer:
    """An original served from this process (``up``): the open file and the headers."""

    found: OpenFile
    headers: dict[str, str]


def download(
    service: MetaService, downloads: OriginalDownloads, dataset_id: str
) -> Answer | FileAnswer:
    """The original file of a public dataset's current version. Never cached: a redirect
    expires, and a withdrawn dataset must stop being handed out."""
    original = service.original(dataset_id)
    found = downloads.locate(original.key, original.etag, original.file_name)
    if found is None:
        return error_answer(410, f"the original file of dataset {dataset_id} is no longer kept")
    if isinstance(found, Redirect):
        return Answer(302, b"", {"Location": found.url, **NO_STORE_HEADERS})
    headers = {
        "Content-Length": str(found.size),
        "Content-Disposition": attachment(original.file_name),
        **NO_STORE_HEADERS,
    }
    return FileAnswer(found, headers)
