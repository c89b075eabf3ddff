"""The curation API (``/curation/v1``) from Python: collections, datasets, uploads, publishing.

Holds the curator's API key and trades it for bearer tokens itself: a token is renewed shortly
before it expires, and once more if the API still answers 401 (a server clock ahead of ours,
a rotated signing secret), so a long notebook session never has to think about tokens.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict

from cellucid_cloud.client._http import (
    Document,
    HttpClientOwner,
    check,
    json_object,
    send,
)
from cellucid_cloud.client.errors import ApiError, ServerError
from cellucid_cloud.client.parts import PartUrl, send_parts

__all__ = ["AcceptedUpload", "CurationClient", "MultipartUpload", "UploadGrant"]

RENEW_BEFORE = 60.0
"""Seconds before its expiry that a token is replaced (at most half its lifetime)."""
CHUNK = 1024 * 1024
MULTIPART_THRESHOLD = 16 * 1024 * 1024
"""Files larger than this go up in parts (of the size the API chooses)."""
FINAL_STATUSES = frozenset({"ready", "failed"})


class AcceptedUpload(BaseModel):
    """An upload the API accepted: from then on the dataset reports it (``upload_id``; its
    version is ``dataset_version_id``), whether its file has arrived yet or not."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    upload_id: str
    dataset_version_id: str
    key: str


class UploadGrant(AcceptedUpload):
    """A URL that takes one PUT of the dataset file, with ``headers``, within ``expires_in``
    seconds and ``max_bytes``."""

    url: str
    headers: dict[str, str]
    expires_in: int
    max_bytes: int


class MultipartUpload(AcceptedUpload):
    """A file sent in parts: 1 to ``part_count``, each ``part_size`` bytes but the last, to
    URLs from :meth:`CurationClient.part_urls`, completed within ``expires_in`` seconds."""

    size: int
    part_size: int
    part_count: int
    max_part_urls: int
    expires_in: int


class CurationClient(HttpClientOwner):
    """A curator's session. Every method raises :class:`ApiError` (status and detail) for an
    error answer, and :class:`ServerError` for a 5xx or no answer. Safe to share between
    threads."""

    def __init__(
        self,
        api_base_url: str,
        api_key: str,
        http: httpx.Client | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api_base_url.rstrip("/")
        self._api_key = api_key
        super().__init__(http)
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    # -- collections -------------------------------------------------------------------------

    def list_collections(self) -> list[Document]:
        """This curator's collections, each as its open version (or its published one)."""
        body = self._call("GET", "/collections").json()
        if not isinstance(body, list):
            raise ServerError(200, "expected a JSON list of collections")
        return body

    def create_collection(
        self,
        name: str,
        description: str = "",
        *,
        contact_name: str,
        contact_email: str,
        links: Sequence[Mapping[str, str]] = (),
    ) -> str:
        """A new private collection; returns its id. ``links``: ``{"name", "type", "url"}``."""
        body = {
            "name": name,
            "description": description,
            "contact_name": contact_name,
            "contact_email": contact_email,
            "links": [dict(link) for link in links],
        }
        return str(json_object(self._call("POST", "/collections", json=body))["collection_id"])

    def get_collection(self, collection_id: str) -> Document:
        return json_object(self._call("GET", _path(collection_id)))

    def update_collection(self, collection_id: str, **fields: Any) -> Document:
        """Change the named metadata fields (name, description, contact_name, contact_email,
        links) of a private collection or an open revision; returns the new document."""
        return json_object(self._call("PATCH", _path(collection_id), json=fields))

    def delete_collection(self, collection_id: str) -> None:
        """Delete a private collection, or discard a revision (given the revision's id)."""
        self._call("DELETE", _path(collection_id))

    def start_revision(self, collection_id: str) -> str:
        """Open a revision of a published collection; returns the revision's id, which the
        dataset methods and :meth:`publish` then take."""
        reply = self._call("POST", _path(collection_id, "revision"))
        return str(json_object(reply)["collection_id"])

    def publish(self, collection_id: str) -> Document:
        """Publish a private collection or a revision, atomically; every dataset must be ready."""
        return json_object(self._call("POST", _path(collection_id, "publish")))

    # -- datasets ----------------------------------------------------------------------------

    def create_dataset(self, collection_id: str, name: str = "") -> str:
        """A new, empty dataset (status ``waiting``); returns its canonical id."""
        reply = self._call("POST", _path(collection_id, "datasets"), json={"name": name})
        return str(json_object(reply)["dataset_id"])

    def get_dataset(self, collection_id: str, dataset_id: str) -> Document:
        """The dataset as this collection (or revision) holds it: ``status`` is waiting,
        processing, ready or failed (with ``reason``)."""
        return json_object(self._call("GET", _path(collection_id, "datasets", dataset_id)))

    def get_export_options(self, collection_id: str, dataset_id: str) -> Document:
        """The dataset's export options: only the fields set (``ExportOptions``'s JSON)."""
        path = _path(collection_id, "datasets", dataset_id, "export-options")
        return json_object(self._call("GET", path))

    def set_export_options(
        self, collection_id: str, dataset_id: str, options: Mapping[str, Any]
    ) -> Document:
        """Replace the dataset's export options (``ExportOptions``'s fields, e.g.
        ``{"embeddings": [{"key": "X_pca", "columns": [0, 1]}], "default_embedding": "X_pca",
        "obs_keys": ["cell_type"], "gene_names_column": "feature_name"}``; fields left out keep
        the defaults). A dataset already processed is processed again into a new version,
        which the returned dataset document (and :meth:`wait_until_processed`) reports."""
        path = _path(collection_id, "datasets", dataset_id, "export-options")
        return json_object(self._call("PUT", path, json=dict(options)))

    def delete_dataset(self, collection_id: str, dataset_id: str) -> None:
        """Remove a dataset from a private collection or a revision (publishing the revision
        then withdraws it: its URL answers tombstoned)."""
        self._call("DELETE", _path(collection_id, "datasets", dataset_id))

    def upload_url(
        self,
        collection_id: str,
        dataset_id: str,
        *,
        format: Literal["h5ad", "zarr.zip"] = "h5ad",
        size: int | None = None,
        file_name: str = "",
    ) -> UploadGrant:
        """Where to PUT the dataset's file. Giving ``size`` has an oversized file refused now
        rather than after the transfer; ``file_name`` is what failure reasons call the file.
        The upload is accepted now: the dataset reports it until a newer one is accepted."""
        body: Document = {"format": format, "file_name": file_name}
        if size is not None:
            body["size"] = size
        reply = self._call(
            "POST", _path(collection_id, "datasets", dataset_id, "upload-url"), json=body
        )
        return UploadGrant.model_validate(json_object(reply))

    def start_multipart_upload(
        self,
        collection_id: str,
        dataset_id: str,
        *,
        size: int,
        format: Literal["h5ad", "zarr.zip"] = "h5ad",
        file_name: str = "",
    ) -> MultipartUpload:
        """Begin sending a file of ``size`` bytes in parts; accepted now, as by
        :meth:`upload_url`. :meth:`upload` does the whole of it."""
        body = {"format": format, "size": size, "file_name": file_name}
        path = _path(collection_id, "datasets", dataset_id, "multipart-upload")
        return MultipartUpload.model_validate(json_object(self._call("POST", path, json=body)))

    def part_urls(
        self, collection_id: str, dataset_id: str, upload_id: str, parts: Sequence[int]
    ) -> list[PartUrl]:
        """URLs for the given parts (at most ``max_part_urls`` at once), each taking exactly
        its part's bytes for a few minutes."""
        path = _multipart_path(collection_id, dataset_id, upload_id, "part-urls")
        reply = json_object(self._call("POST", path, json={"parts": list(parts)}))
        return [PartUrl.model_validate(part) for part in reply["parts"]]

    def complete_multipart_upload(
        self, collection_id: str, dataset_id: str, upload_id: str, etags: Mapping[int, str]
    ) -> None:
        """Assemble the parts (every one, with its PUT's ``ETag``); the file is then processed
        like any upload."""
        parts = [{"part_number": n, "etag": etag} for n, etag in sorted(etags.items())]
        path = _multipart_path(collection_id, dataset_id, upload_id, "complete")
        self._call("POST", path, json={"parts": parts})

    def abort_multipart_upload(self, collection_id: str, dataset_id: str, upload_id: str) -> None:
        """Give up a multipart upload: its parts are dropped and its version fails."""
        self._call("DELETE", _multipart_path(collection_id, dataset_id, upload_id))

    def upload(
        self,
        collection_id: str,
        dataset_id: str,
        path: str | os.PathLike[str],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> AcceptedUpload:
        """Upload a ``.h5ad`` or ``.zarr.zip`` file, streamed from disk with its length
        declared (presigned S3 PUTs refuse chunked bodies); one larger than
        :data:`MULTIPART_THRESHOLD` goes in parts, a few at a time, each retried on its own,
        and a failed or interrupted transfer gives the upload up. ``progress`` is called with
        the bytes of each chunk once it is sent (minus a part's bytes when it must be sent
        again). Processing starts on the server once the file is complete; from the moment
        this returns, :meth:`get_dataset` reports this upload and
        :meth:`wait_until_processed` waits for it."""
        file = Path(path)
        size = file.stat().st_size
        if size > MULTIPART_THRESHOLD:
            return self._upload_in_parts(collection_id, dataset_id, file, size, progress)
        grant = self.upload_url(
            collection_id, dataset_id, format=_upload_format(file), size=size, file_name=file.name
        )
        with file.open("rb") as stream:
            headers = {**grant.headers, "Content-Length": str(size)}
            body = _chunks(stream, progress)
            check(send(self._http, "PUT", grant.url, content=body, headers=headers))
        return grant

    def _upload_in_parts(
        self,
        collection_id: str,
        dataset_id: str,
        file: Path,
        size: int,
        progress: Callable[[int], None] | None,
    ) -> MultipartUpload:
        started = self.start_multipart_upload(
            collection_id, dataset_id, size=size, format=_upload_format(file), file_name=file.name
        )

        def urls_for(numbers: Sequence[int]) -> list[PartUrl]:
            return self.part_urls(collection_id, dataset_id, started.upload_id, numbers)

        try:
            etags = send_parts(
                self._http, file, started.part_size, started.part_count, urls_for, progress
            )
            self.complete_multipart_upload(collection_id, dataset_id, started.upload_id, etags)
        except BaseException:
            with contextlib.suppress(ApiError):
                self.abort_multipart_upload(collection_id, dataset_id, started.upload_id)
            raise
        return started

    def wait_until_processed(
        self,
        collection_id: str,
        dataset_id: str,
        timeout: float = 600.0,
        poll: float = 2.0,
        *,
        on_status: Callable[[Document], None] | None = None,
    ) -> Document:
        """Poll until the dataset is ``ready`` or ``failed`` and return its document (check
        ``status``: a failed upload is an answer, not an error). ``on_status`` sees every
        document read (a progress display). Raises ``TimeoutError``."""
        deadline = self._clock() + timeout
        while True:
            document = self.get_dataset(collection_id, dataset_id)
            if on_status is not None:
                on_status(document)
            if document.get("status") in FINAL_STATUSES:
                return document
            if self._clock() >= deadline:
                raise TimeoutError(
                    f"dataset {dataset_id} is still {document.get('status')} after {timeout} s"
                )
            time.sleep(poll)

    # -- plumbing ----------------------------------------------------------------------------

    def ingest_link(self, collection_id: str, dataset_id: str, link: str) -> Document:
        """Have the server download the dataset from ``link`` (https; Dropbox links work)."""
        reply = self._call("PUT", _path(collection_id, "datasets", dataset_id), json={"link": link})
        return json_object(reply)

    def register_viewer(self, dataset: str, ttl_seconds: int | None = None) -> Document:
        """A viewer of ``dataset`` (id or explorer URL) whose events a notebook can follow:
        ``{"viewerId", "viewerToken", "viewer_url", "expires_at"}``."""
        body: dict[str, Any] = {"dataset_id": dataset}
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        return json_object(self._call("POST", "/_cellucid/viewers", json=body, prefix=""))

    def _call(
        self, method: str, path: str, *, json: Any = None, prefix: str = "/curation/v1"
    ) -> httpx.Response:
        url = f"{self.api}{prefix}{path}"
        token = self._bearer()
        response = send(self._http, method, url, json=json, headers=_auth(token))
        if response.status_code == 401:
            fresh = self._bearer(stale=token)
            response = send(self._http, method, url, json=json, headers=_auth(fresh))
        return check(response)

    def _bearer(self, stale: str | None = None) -> str:
        """The current token; a new one when it is about to expire or was ``stale`` (refused)."""
        with self._lock:
            if self._token is None or self._token == stale or self._clock() >= self._renew_at:
                asked_at = self._clock()
                reply = send(
                    self._http,
                    "POST",
                    f"{self.api}/curation/v1/auth/token",
                    headers={"x-api-key": self._api_key},
                )
                body = json_object(check(reply))
                lifetime = float(body["expires_in"])
                self._token = str(body["access_token"])
                self._renew_at = asked_at + lifetime - min(RENEW_BEFORE, lifetime / 2)
            return self._token


def _path(collection_id: str, *rest: str) -> str:
    return "/collections/" + "/".join(quote(part, safe="") for part in (collection_id, *rest))


def _multipart_path(collection_id: str, dataset_id: str, upload_id: str, *rest: str) -> str:
    return _path(collection_id, "datasets", dataset_id, "multipart-upload", upload_id, *rest)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _upload_format(path: Path) -> Literal["h5ad", "zarr.zip"]:
    name = path.name.lower()
    if name.endswith(".zarr.zip"):
        return "zarr.zip"
    if name.endswith(".h5ad"):
        return "h5ad"
    raise ValueError(f"{path}: upload a .h5ad or .zarr.zip file")


def _chunks(stream: BinaryIO, progress: Callable[[int], None] | None) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk
        if progress is not None:
            progress(len(chunk))
