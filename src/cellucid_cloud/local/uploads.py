"""``PUT /_cellucid/upload?token=…``: the local stand-in for an S3 presigned PUT.

The token (from the curation API's upload-url route) names the one key it may write and the
size cap. The body streams to a hidden temporary file in the uploads folder and is renamed
into place only when complete, so the worker never sees half a file; over the cap → 413 and
nothing is kept.
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
from cellucid_cloud.storage.local_upload_urls import LocalUploadUrls, UploadTokenError

__all__ = ["UploadRoute"]


class UploadRoute:
    def __init__(
        self,
        signer: LocalUploadUrls,
        store: FilesystemObjectStore,
        on_upload: Callable[[str], None],
    ) -> None:
        self.signer = signer
        self.store = store
        self.on_upload = on_upload

    async def __call__(self, request: Request) -> Response:
        if request.method != "PUT":
            return error_json(405, "use PUT", Allow="PUT")
        try:
            grant = self.signer.verify(request.query_params.get("token", ""))
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
