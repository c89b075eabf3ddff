"""``PUT /_cellucid/upload?token=…``: the local stand-in for an S3 presigned PUT.

The token (from the curation API's upload-url route) names the one key it may write and the
size cap. The body streams to a hidden temporary file in the uploads folder and is renamed
into place only when complete, so the worker never sees half a file; over the cap → 413 and
nothing is kept.

A part token (a part of a multipart upload) has the body written at the part's offset in the
upload's data file (:mod:`~cellucid_cloud.storage.local_multipart`); only exactly the part's
length is taken, like a presigned S3 part URL, which signs it. The part counts as received
(its ETag is recorded) only once it arrived whole.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from cellucid_cloud.api.responses import error_json
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
    ) -> None:
        self.signer = signer
        self.store = store
        self.on_upload = on_upload
        self.multipart = multipart

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
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > grant.max_bytes):
            return error_json(413, f"the upload is limited to {grant.max_bytes} bytes")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.parent / f".incoming-{uuid.uuid4().hex}"
        size = 0
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with partial.open("wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > grant.max_bytes:
                        return error_json(413, f"the upload is limited to {grant.max_bytes} bytes")
                    digest.update(chunk)
                    await run_in_threadpool(out.write, chunk)
            if size == 0:
                return error_json(400, "empty upload")
            os.replace(partial, target)
        except ClientDisconnect:
            return error_json(400, "the upload was interrupted")
        finally:
            partial.unlink(missing_ok=True)
        self.on_upload(grant.key)
        return Response(status_code=200, headers={"ETag": f'"{digest.hexdigest()}"'})

    async def _part(self, request: Request, grant: UploadGrant) -> Response:
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
                partial = received.with_name(f".{received.name}-{uuid.uuid4().hex}")
                partial.write_text(digest.hexdigest())
                os.replace(partial, received)
        except MultipartError as exc:
            return error_json(404, str(exc))
        except ClientDisconnect:
            return error_json(400, "the upload was interrupted")
        return Response(status_code=200, headers={"ETag": f'"{digest.hexdigest()}"'})
