"""``/curation/v1``: the curator's API, shaped like CELLxGENE's Curation API v1.

Every route but ``POST /auth/token`` needs ``Authorization: Bearer <token>`` (401 without);
changes to another curator's collection are 403. Ids in paths may be a collection's canonical
id or a collection version id (a revision); datasets keep their canonical ids in revisions.

(No ``from __future__ import annotations`` here: FastAPI must evaluate the route signatures,
which use the ``Curator`` dependency alias local to :func:`curation_router`.)
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import Response

from cellucid_cloud.api.context import ApiContext
from cellucid_cloud.api.schemas import (
    CollectionCreated,
    CollectionPatch,
    DatasetCreate,
    DatasetCreated,
    LinkAccepted,
    LinkIngest,
    MultipartAnswer,
    MultipartComplete,
    MultipartRequest,
    PartUrlAnswer,
    PartUrlsAnswer,
    PartUrlsRequest,
    TokenAnswer,
    UploadUrlAnswer,
    UploadUrlRequest,
    error_response,
)
from cellucid_cloud.catalog.documents import CollectionDocument, DatasetDocument, as_json
from cellucid_cloud.catalog.models import CollectionMetadata, DatasetVersion, Upload, new_id
from cellucid_cloud.catalog.service import (
    LINK_DEADLINE,
    CatalogService,
    CollectionView,
    upload_key,
)
from cellucid_cloud.core.errors import InvalidRequestError, NotFoundError, StateConflictError
from cellucid_cloud.core.ports import MultipartUploads
from cellucid_cloud.export.settings import ExportOptions
from cellucid_cloud.http.asgi import cached_json
from cellucid_cloud.http.errors import AuthError
from cellucid_cloud.storage.link_fetch import LinkError, check_link
from cellucid_cloud.storage.multipart import (
    MAX_PART_URLS,
    MULTIPART_LIFETIME,
    MultipartError,
    PartPlan,
    UnknownMultipartError,
)
from cellucid_cloud.storage.upload_urls import MAX_UPLOAD_EXPIRY, UploadUrlError

__all__ = ["curation_router"]

Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
bearer = HTTPBearer(auto_error=False, description="a token from POST /curation/v1/auth/token")
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_response("a body that is not UTF-8 text, or a bad Content-Length"),
    401: error_response("no, invalid or expired token"),
    403: error_response("another curator's collection"),
    404: error_response("no such collection or dataset"),
    409: error_response("the collection's state does not allow this (or a race was lost)"),
    413: error_response("request body over the size limit"),
    422: error_response("invalid request: the message names the field"),
}


@dataclass(frozen=True, slots=True)
class NewUpload:
    """An upload checked but not yet recorded: whose, of which dataset, its id and key."""

    curator_id: str
    collection_id: str
    dataset_id: str
    upload_id: str
    suffix: str
    key: str

    def accept(
        self,
        catalog: CatalogService,
        *,
        file_name: str,
        expires_in: float,
        size: int | None = None,
        multipart_id: str | None = None,
    ) -> tuple[Upload, DatasetVersion]:
        """Record it (:meth:`CatalogService.accept_upload`): from now on the dataset reports it."""
        return catalog.accept_upload(
            self.curator_id,
            self.collection_id,
            self.dataset_id,
            upload_id=self.upload_id,
            suffix=self.suffix,
            file_name=file_name,
            expires_in=expires_in,
            size=size,
            multipart_id=multipart_id,
        )


def curation_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/curation/v1", tags=["curation"], responses=AUTH_ERRORS)

    def curator(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise AuthError("send Authorization: Bearer <token> (POST /curation/v1/auth/token)")
        return ctx.auth.curator_for_token(credentials.credentials)

    Curator = Annotated[str, Depends(curator)]  # noqa: N806 - a dependency-injected type

    def document(view: CollectionView) -> CollectionDocument:
        return ctx.meta.collection_document(view, curator=True)

    @router.post("/auth/token", response_model=TokenAnswer)
    def token(x_api_key: Annotated[str | None, Header(max_length=200)] = None) -> TokenAnswer:
        """Exchange an API key (header ``x-api-key``) for a short-lived bearer token."""
        access_token = ctx.auth.token_for_key(x_api_key)
        return TokenAnswer(access_token=access_token, expires_in=ctx.auth.token_ttl)

    @router.get("/collections", response_model=list[CollectionDocument])
    def list_collections(curator_id: Curator) -> list[CollectionDocument]:
        """The caller's collections, each as its open version (or published one)."""
        return [document(view) for view in ctx.catalog.collections_of(curator_id)]

    @router.post("/collections", status_code=201, response_model=CollectionCreated)
    def create_collection(curator_id: Curator, body: CollectionMetadata) -> CollectionCreated:
        view = ctx.catalog.create_collection(curator_id, body)
        return CollectionCreated(collection_id=view.collection.collection_id)

    @router.get("/collections/{collection_id}", response_model=CollectionDocument)
    def get_collection(curator_id: Curator, collection_id: Id) -> CollectionDocument:
        return document(ctx.catalog.owned(curator_id, collection_id))

    @router.patch("/collections/{collection_id}", response_model=CollectionDocument)
    def patch_collection(
        curator_id: Curator, collection_id: Id, body: CollectionPatch
    ) -> CollectionDocument:
        changes = body.model_dump(mode="json", exclude_unset=True)
        if any(value is None for value in changes.values()):
            raise InvalidRequestError("fields cannot be set to null")
        return document(ctx.catalog.update_metadata(curator_id, collection_id, changes))

    @router.delete("/collections/{collection_id}", status_code=204)
    def delete_collection(curator_id: Curator, collection_id: Id) -> Response:
        """Delete a private collection, or discard an open revision (by its id)."""
        ctx.catalog.delete(curator_id, collection_id)
        return Response(status_code=204)

    @router.post(
        "/collections/{collection_id}/revision", status_code=201, response_model=CollectionCreated
    )
    def start_revision(curator_id: Curator, collection_id: Id) -> CollectionCreated:
        view = ctx.catalog.start_revision(curator_id, collection_id)
        return CollectionCreated(collection_id=view.version.version_id)

    @router.post("/collections/{collection_id}/publish", response_model=CollectionDocument)
    def publish(curator_id: Curator, collection_id: Id) -> CollectionDocument:
        """Publish a private collection or a revision, atomically."""
        return document(ctx.catalog.publish(curator_id, collection_id))

    @router.post(
        "/collections/{collection_id}/datasets", status_code=201, response_model=DatasetCreated
    )
    def create_dataset(
        curator_id: Curator,
        collection_id: Id,
        body: Annotated[DatasetCreate | None, Body()] = None,
    ) -> DatasetCreated:
        version = ctx.catalog.add_dataset(curator_id, collection_id, (body or DatasetCreate()).name)
        return DatasetCreated(dataset_id=version.dataset_id)

    @router.get(
        "/collections/{collection_id}/datasets/{dataset_id}", response_model=DatasetDocument
    )
    def get_dataset(
        request: Request, curator_id: Curator, collection_id: Id, dataset_id: Id
    ) -> Response:
        view = ctx.catalog.owned(curator_id, collection_id)
        return cached_json(request, as_json(dataset_document(view, dataset_id)), 0)

    def dataset_document(view: CollectionView, dataset_id: str) -> DatasetDocument:
        return ctx.meta.dataset_document(view, ctx.catalog.dataset_in(view, dataset_id))

    @router.get(
        "/collections/{collection_id}/datasets/{dataset_id}/export-options",
        response_model=ExportOptions,
        response_model_exclude_unset=True,
    )
    def get_export_options(curator_id: Curator, collection_id: Id, dataset_id: Id) -> Any:
        """The export options of the dataset's current version: only the fields the curator
        set (the others keep the host's defaults)."""
        view = ctx.catalog.owned(curator_id, collection_id)
        return ExportOptions.model_validate(ctx.catalog.dataset_in(view, dataset_id).export_options)

    @router.put(
        "/collections/{collection_id}/datasets/{dataset_id}/export-options",
        response_model=DatasetDocument,
    )
    def set_export_options(
        curator_id: Curator, collection_id: Id, dataset_id: Id, body: ExportOptions
    ) -> DatasetDocument:
        """Set what ``prepare``'s flags set, for this dataset: embeddings and their columns,
        the default embedding, obs fields, the gene name column... (fields left out keep the
        defaults). Before processing starts they apply to the upload waiting; after, the
        upload is processed again into a new version, which the dataset reports at once."""
        options = body.model_dump(mode="json", exclude_unset=True)
        version, upload = ctx.catalog.set_export_options(
            curator_id, collection_id, dataset_id, options
        )
        if upload is not None:
            if ctx.reprocessing is None:
                raise StateConflictError("this server does not process uploads")
            ctx.reprocessing.reprocess(upload.object_key, upload.upload_id, version.source_etag)
        return dataset_document(ctx.catalog.owned(curator_id, collection_id), dataset_id)

    @router.delete("/collections/{collection_id}/datasets/{dataset_id}", status_code=204)
    def delete_dataset(curator_id: Curator, collection_id: Id, dataset_id: Id) -> Response:
        """Remove a dataset from a private collection or a revision (publishing the revision
        withdraws it; its URL then answers tombstoned)."""
        ctx.catalog.remove_dataset(curator_id, collection_id, dataset_id)
        return Response(status_code=204)

    @router.put(
        "/collections/{collection_id}/datasets/{dataset_id}",
        status_code=202,
        response_model=LinkAccepted,
    )
    def ingest_link(
        curator_id: Curator, collection_id: Id, dataset_id: Id, body: LinkIngest
    ) -> LinkAccepted:
        """Ingest the dataset from a URL (https; Dropbox share links work): the server
        downloads it in the background, then processes it like an upload."""
        # Ownership first: checking the link resolves its host, which is no one else's business.
        target = ctx.catalog.upload_target(curator_id, collection_id, dataset_id)
        link = str(body.link)
        try:
            check_link(link, ctx.allow_private_links)
        except LinkError as exc:
            raise InvalidRequestError(str(exc)) from None
        suffix = ".zarr.zip" if body.link.path and body.link.path.endswith(".zarr.zip") else ".h5ad"
        upload, _ = ctx.catalog.accept_upload(
            curator_id,
            collection_id,
            dataset_id,
            upload_id=new_id(),
            suffix=suffix,
            file_name=link,
            expires_in=LINK_DEADLINE,
        )
        ctx.links.ingest(link, upload.object_key)
        return LinkAccepted(
            dataset_id=dataset_id,
            collection_id=target.view.curator_id,
            upload_id=upload.upload_id,
        )

    def new_upload(
        curator_id: str, collection_id: str, dataset_id: str, size: int | None, format: str
    ) -> NewUpload:
        """A new upload, once the size is within the cap and the dataset may take an upload
        (nothing is signed or recorded yet)."""
        if size is not None and size > ctx.max_upload_bytes:
            raise InvalidRequestError(
                f"file too large: {size} bytes; the limit is {ctx.max_upload_bytes}"
            )
        target = ctx.catalog.upload_target(curator_id, collection_id, dataset_id)
        upload_id, suffix = new_id(), f".{format}"
        key = upload_key(target.view.collection.collection_id, dataset_id, upload_id, suffix)
        return NewUpload(curator_id, collection_id, dataset_id, upload_id, suffix, key)

    @router.post(
        "/collections/{collection_id}/datasets/{dataset_id}/upload-url",
        response_model=UploadUrlAnswer,
    )
    def upload_url(
        curator_id: Curator,
        collection_id: Id,
        dataset_id: Id,
        body: Annotated[UploadUrlRequest | None, Body()] = None,
    ) -> UploadUrlAnswer:
        """A URL that takes one PUT of the dataset file (with the returned headers); the
        upload then creates a new dataset version and processes it."""
        request = body or UploadUrlRequest()
        # Checked, then signed, then accepted: a request refused at any step leaves no trace.
        new = new_upload(curator_id, collection_id, dataset_id, request.size, request.format)
        try:
            granted = ctx.uploads.upload_url(
                new.key,
                max_bytes=ctx.max_upload_bytes,
                expires_in=ctx.upload_url_expiry,
                size=request.size,
            )
        except UploadUrlError as exc:
            raise InvalidRequestError(str(exc)) from None
        upload, version = new.accept(
            ctx.catalog, file_name=request.file_name, expires_in=granted.expires_in
        )
        return UploadUrlAnswer(
            url=granted.url,
            headers=granted.headers,
            key=upload.object_key,
            expires_in=granted.expires_in,
            max_bytes=granted.max_bytes,
            upload_id=upload.upload_id,
            dataset_version_id=version.version_id,
        )

    # -- multipart uploads: files too large for one PUT ------------------------------------

    Multipart = "/collections/{collection_id}/datasets/{dataset_id}/multipart-upload"  # noqa: N806

    def multipart_store() -> MultipartUploads:
        if ctx.multipart is None:
            raise InvalidRequestError("this deployment takes no multipart uploads")
        return ctx.multipart

    @contextmanager
    def multipart_refusals() -> Iterator[None]:
        """The multipart store's refusals as answers: an upload it no longer has is a 404,
        parts that do not fit the plan a 422."""
        try:
            yield
        except UnknownMultipartError as exc:
            raise NotFoundError(str(exc)) from None
        except MultipartError as exc:
            raise InvalidRequestError(str(exc)) from None

    def multipart_upload(
        curator_id: str, collection_id: str, dataset_id: str, upload_id: str, *, pending: bool
    ) -> tuple[Upload, str, PartPlan]:
        """The curator's multipart upload of this dataset (``pending``: while its file is still
        awaited), the store's id for it, and how the file is cut."""
        view = ctx.catalog.owned(curator_id, collection_id)
        upload = ctx.catalog.upload(upload_id)
        if (
            upload is None
            or upload.multipart_id is None
            or upload.size is None
            or upload.collection_id != view.collection.collection_id
            or upload.dataset_id != dataset_id
        ):
            raise NotFoundError(f"no multipart upload {upload_id} of dataset {dataset_id}")
        if pending and ctx.catalog.pending_version(upload) is None:
            raise NotFoundError(
                f"multipart upload {upload_id} is over: completed, cancelled, expired or "
                "replaced by a newer upload"
            )
        return upload, upload.multipart_id, PartPlan.for_size(upload.size)

    @router.post(Multipart, status_code=201, response_model=MultipartAnswer)
    def start_multipart(
        curator_id: Curator, collection_id: Id, dataset_id: Id, body: MultipartRequest
    ) -> MultipartAnswer:
        """Upload a file in parts, for files too large for one PUT (S3 takes at most 5 GiB
        in one). Accepted now, as an upload URL is: the dataset reports this upload."""
        store = multipart_store()
        new = new_upload(curator_id, collection_id, dataset_id, body.size, body.format)
        plan = PartPlan.for_size(body.size)
        multipart_id = store.start_multipart(new.key, plan)
        try:
            upload, version = new.accept(
                ctx.catalog,
                file_name=body.file_name,
                expires_in=MULTIPART_LIFETIME,
                size=body.size,
                multipart_id=multipart_id,
            )
        except Exception:
            store.abort_multipart(new.key, multipart_id)
            raise
        return MultipartAnswer(
            upload_id=upload.upload_id,
            dataset_version_id=version.version_id,
            key=upload.object_key,
            size=plan.size,
            part_size=plan.part_size,
            part_count=plan.count,
            max_part_urls=MAX_PART_URLS,
            expires_in=MULTIPART_LIFETIME,
        )

    @router.post(f"{Multipart}/{{upload_id}}/part-urls", response_model=PartUrlsAnswer)
    def part_urls(
        curator_id: Curator,
        collection_id: Id,
        dataset_id: Id,
        upload_id: Id,
        body: PartUrlsRequest,
    ) -> PartUrlsAnswer:
        """URLs for the given parts, each taking exactly its part's bytes for a few minutes;
        keep each PUT's ``ETag`` for ``complete``."""
        upload, multipart_id, plan = multipart_upload(
            curator_id, collection_id, dataset_id, upload_id, pending=True
        )
        expires_in = min(ctx.upload_url_expiry, MAX_UPLOAD_EXPIRY)
        with multipart_refusals():
            urls = multipart_store().part_urls(
                upload.object_key, multipart_id, plan.parts(body.parts), expires_in=expires_in
            )
        return PartUrlsAnswer(
            parts=[
                PartUrlAnswer(part_number=u.number, url=u.url, size=u.size, headers=u.headers)
                for u in urls
            ],
            expires_in=expires_in,
        )

    @router.post(f"{Multipart}/{{upload_id}}/complete", status_code=204)
    def complete_multipart(
        curator_id: Curator,
        collection_id: Id,
        dataset_id: Id,
        upload_id: Id,
        body: MultipartComplete,
    ) -> Response:
        """Assemble the parts into the file, which is then processed like any upload."""
        upload, multipart_id, plan = multipart_upload(
            curator_id, collection_id, dataset_id, upload_id, pending=True
        )
        etags = {part.part_number: part.etag for part in body.parts}
        if len(etags) != len(body.parts):
            raise InvalidRequestError("each part is listed once")
        with multipart_refusals():
            multipart_store().complete_multipart(upload.object_key, multipart_id, plan, etags)
        return Response(status_code=204)

    @router.delete(f"{Multipart}/{{upload_id}}", status_code=204)
    def abort_multipart(
        curator_id: Curator, collection_id: Id, dataset_id: Id, upload_id: Id
    ) -> Response:
        """Give up a multipart upload: its parts are dropped, and its version fails at once
        (rather than when the upload would have expired). One already over is left as it is."""
        upload, multipart_id, _ = multipart_upload(
            curator_id, collection_id, dataset_id, upload_id, pending=False
        )
        if multipart_store().abort_multipart(upload.object_key, multipart_id):
            ctx.catalog.fail_upload(
                upload, f"{upload.file_name}: the upload was cancelled before it was complete"
            )
        return Response(status_code=204)

    return router
