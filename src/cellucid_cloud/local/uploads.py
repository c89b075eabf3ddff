"""``PUT /_cellucid/upload?token=…``: the local stand-in for an S3 presigned PUT.

The token (from the curation API's upload-url route) names the one key it may write and the
size cap. The body streams to a hidden temporary file in the uploads folder and is renamed
into place only when complete, so the worker never sees half a file; over the cap → 413 and
nothing is kept.

A URL for a declared size takes exactly that many bytes (S3 signs the length); each URL
takes one PUT (:mod:`~cellucid_cloud.local.upload_claims`; 409 for a second one), and none
once what it was issued for is gone (``refusal``: a removed dataset, a replaced upload, an
expired viewer: 410), so nothing is written for it.

A part token (a part of a multipart upload) has the body written at the part's offset in the
upload's data file (:mod:`~cellucid_cloud.storage.local_multipart`); only exactly the part's
length is taken, like a presigned S3 part URL, which signs it. The part counts as received
(its ETag is recorded) only once it arrived whole.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from cellucid_cloud.core.files import staged
from cellucid_cloud.http.asgi import error_json
from cellucid_cloud.local.upload_claims import UploadClaims
from cellucid_cloud.storage.filesystem import FilesystemObjectStore
from cellucid_cloud.storage.local_multipart import LocalMultipartUploads
from cellucid_cloud.storage.local_upload_urls import LocalUploadUrls, UploadGrant, UploadTokenError
from cellucid_cloud.storage.multipart import MultipartError

__all__ = ["UploadRoute"]


class UploadRoute:
    def __init__(
        self,
        signer: LocalUploadUrls,
        store: FilesystemObjectStore,
        on_upload: Callable[[str], None],
        multipart: LocalMultipartUploads,
        claims: UploadClaims,
        refusal: Callable[[str], str | None],
    ) -> None:
        self.signer = signer
        self.store = store
        self.on_upload = on_upload
        self.multipart = multipart
        self.claims = claims
        self.refusal = refusal
        """Why a key takes no file any more (its upload URL is dead), or None."""

    async def __call__(self, request: Request) -> Response:
        if request.method != "PUT":
            return error_json(405, "use PUT", Allow="PUT")
        try:
            grant = self.signer.verify(request.query_params.get("token", ""))
            if grant.part is not None:
                return await self._part(request, grant)
            target = self.store.path(grant.key)
        except (UploadTokenError, ValueError) as exc:
            return error_json(403, str(exc))
        refused = await run_in_threadpool(self.refusal, grant.key)
        if refused is not None:
            return error_json(410, refused)
        declared = request.headers.get("content-length")
        problem = _length_problem(grant, declared)
        if problem is not None:
            return problem
        if not self.claims.claim(grant.token_id):
            return error_json(409, "this upload URL has been used; ask for a new one")
        taken = False
        try:
            response = await self._write(request, grant, target)
            taken = response.status_code == 200
        finally:
            if not taken:
                self.claims.release(grant.token_id)
        return response

    async def _write(self, request: Request, grant: UploadGrant, target: Path) -> Response:
        target.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with staged(target, target.parent / f".incoming-{uuid.uuid4().hex}") as upload:
                with upload.path.open("wb") as out:
                    async for chunk in request.stream():
                        size += len(chunk)
                        if size > grant.max_bytes:
                            return error_json(
                                413, f"the upload is limited to {grant.max_bytes} bytes"
                            )
                        digest.update(chunk)
                        await run_in_threadpool(out.write, chunk)
                if size == 0:
                    return error_json(400, "empty upload")
                if grant.exact and size != grant.max_bytes:
                    return error_json(
                        400, f"{size} bytes arrived; this URL takes {grant.max_bytes}"
                    )
                upload.publish()
        except ClientDisconnect:
            return error_json(400, "the upload was interrupted")
        await run_in_threadpool(self.on_upload, grant.key)
        return Response(status_code=200, headers={"ETag": f'"{digest.hexdigest()}"'})

    async def _part(self, request: Request, grant: UploadGrant) -> Response:
        """One part of a multipart upload: its exact length, sent again if need be (S3's part
        URLs take that too); the upload is used up when it is completed."""
        assert grant.part is not None
        number, length = grant.part.number, grant.max_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared != str(length):
            return error_json(400, f"part {number} is exactly {length} bytes")
        try:
            with self.multipart.receiving(grant.key, grant.part) as (data, received):
                received.unlink(missing_ok=True)  # a part sent again counts once it is whole
                digest = hashlib.md5(usedforsecurity=False)
                size = 0
                with data.open("r+b") as out:
                    out.seek(grant.part.offset)
                    async for chunk in request.stream():
                        size += len(chunk)
                        if size > length:
                            return error_json(413, f"part {number} is {length} bytes")
                        digest.update(chunk)
                        await run_in_threadpool(out.write, chunk)
                if size != length:
                    return error_json(400, f"part {number} is exactly {length} bytes")
                temporary = received.with_name(f".{received.name}-{uuid.uuid4().hex}")
                with staged(received, temporary) as receipt:
                    receipt.path.write_text(digest.hexdigest())
                    receipt.publish()
        except MultipartError as exc:
            return error_json(404, str(exc))
        except ClientDisconnect:
            return error_json(400, "the upload was interrupted")
        return Response(status_code=200, headers={"ETag": f'"{digest.hexdigest()}"'})


def _length_problem(grant: UploadGrant, declared: str | None) -> Response | None:
    """The declared ``Content-Length`` against the URL's cap (and exact size, if it has one)."""
    if declared is None:
        return None
    if not (declared.isascii() and declared.isdigit()) or int(declared) > grant.max_bytes:
        return error_json(413, f"the upload is limited to {grant.max_bytes} bytes")
    if grant.exact and int(declared) != grant.max_bytes:
        return error_json(400, f"this URL takes exactly {grant.max_bytes} bytes, not {declared}")
    return None
