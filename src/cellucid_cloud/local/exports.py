"""``/exports/<dataset version id>/<file>``: exports served as the CDN serves them.

Each version's folder under ``DATA_DIR/exports`` is opened once (an LRU of open folders) and
only the files its manifests declare are served, with the same immutable caching, ETags and
ranges as ``cellucid-cloud serve``.
"""

from __future__ import annotations

import threading
from pathlib import Path

from cachetools import LRUCache
from starlette.requests import Request
from starlette.responses import Response

from cellucid_cloud.http.asgi import error_json, request_segments
from cellucid_cloud.serve.app import file_response
from cellucid_cloud.serve.sources import ExportFolderError, FolderExport

__all__ = ["ExportFiles"]

_VERSION_ID = frozenset("0123456789abcdef-")


class ExportFiles:
    def __init__(self, exports_dir: Path, max_open: int = 256) -> None:
        self.exports_dir = exports_dir
        self._open: LRUCache[str, FolderExport] = LRUCache(maxsize=max_open)
        self._lock = threading.Lock()

    def _folder(self, version_id: str) -> FolderExport | None:
        with self._lock:
            folder = self._open.get(version_id)
        if folder is not None:
            return folder
        path = self.exports_dir / version_id
        if not path.is_dir():
            return None
        try:
            folder = FolderExport(path)
        except ExportFolderError:
            return None
        with self._lock:
            self._open[version_id] = folder
        return folder

    async def __call__(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return error_json(405, "exports are read-only", Allow="GET, HEAD")
        segments = request_segments(request.scope)
        if segments is None or len(segments) < 3 or segments[0] != "exports":
            return error_json(404, "not found")
        version_id, rest = segments[1], "/".join(segments[2:])
        folder = self._folder(version_id) if set(version_id) <= _VERSION_ID else None
        if folder is None or rest not in folder.declared_paths():
            return error_json(404, "not found")
        response = await file_response(request, folder, rest)
        if request.method == "HEAD":
            response.body = b""
        return response
