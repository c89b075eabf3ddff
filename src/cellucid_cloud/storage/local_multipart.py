"""Local adapter of multipart uploads: parts written in place, completion a rename.

Each upload has a folder ``<folder>/<id>/`` outside the uploads folder (so nothing sees it
before completion) holding ``key`` (where the file goes), ``data`` (a file of the upload's
full size, made at start) and, per part received whole, ``<n>.etag`` (the MD5 of its bytes).
The upload route writes part ``n`` at its offset in ``data`` (parts may arrive in any order and
in parallel), refusing any length but the part's; a part sent again replaces the earlier one.
Completion checks every part's ETag and renames ``data`` into the uploads folder: instant,
whatever the size, and the file appears whole or not at all.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from cellucid_cloud.storage.filesystem import FilesystemObjectStore
from cellucid_cloud.storage.local_upload_urls import LocalUploadUrls, PartGrant
from cellucid_cloud.storage.multipart import (
    MULTIPART_LIFETIME,
    MultipartError,
    Part,
    PartPlan,
    PartUrl,
    UnknownMultipartError,
)

__all__ = ["LocalMultipartUploads"]

_ID = re.compile(r"[0-9a-f]{32}")


class LocalMultipartUploads:
    def __init__(
        self,
        folder: Path,
        uploads: FilesystemObjectStore,
        signer: LocalUploadUrls,
        on_complete: Callable[[str], None],
    ) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.uploads = uploads
        self.signer = signer
        self.on_complete = on_complete
        self._lock = threading.Lock()
        self._writing: Counter[str] = Counter()
        """Parts being written, by upload."""
        self._completing: set[str] = set()

    def start_multipart(self, key: str, plan: PartPlan) -> str:
        self.uploads.path(key)  # refuses an unsafe key now rather than at completion
        multipart_id = uuid.uuid4().hex
        home = self.folder / multipart_id
        home.mkdir()
        (home / "key").write_text(key, encoding="utf-8")
        with (home / "data").open("wb") as data:
            data.truncate(plan.size)  # sparse: no disk is used until parts arrive
        return multipart_id

    def part_urls(
        self, key: str, multipart_id: str, parts: Sequence[Part], *, expires_in: int
    ) -> list[PartUrl]:
        self._home(key, multipart_id)
        urls = []
        for part in parts:
            url = self.signer.part_url(
                key, PartGrant(multipart_id, part.number, part.offset), part.length, expires_in
            )
            urls.append(
                PartUrl(part.number, url, part.length, {"Content-Type": "application/octet-stream"})
            )
        return urls

    @contextmanager
    def receiving(self, key: str, part: PartGrant) -> Iterator[tuple[Path, Path]]:
        """While the upload route writes a part: the upload's data file and the part's ETag
        file. :class:`MultipartError` once the upload is completing, completed, aborted or
        expired; completion waits for no one and refuses while a part is being written."""
        with self._lock:
            home = self._home(key, part.multipart_id)
            if part.multipart_id in self._completing:
                raise UnknownMultipartError
            self._writing[part.multipart_id] += 1
        try:
            yield home / "data", home / f"{part.number}.etag"
        finally:
            with self._lock:
                self._writing[part.multipart_id] -= 1
                if not self._writing[part.multipart_id]:
                    del self._writing[part.multipart_id]

    def complete_multipart(
        self, key: str, multipart_id: str, plan: PartPlan, etags: Mapping[int, str]
    ) -> None:
        plan.check_complete(etags)
        with self._lock:
            home = self._home(key, multipart_id)
            if self._writing[multipart_id] or multipart_id in self._completing:
                raise MultipartError(
                    "parts are still being sent: complete once every part's PUT has answered"
                )
            self._completing.add(multipart_id)
        try:
            for number in sorted(etags):
                received = home / f"{number}.etag"
                if not received.exists():
                    raise MultipartError(f"part {number} was not received")
                if received.read_text().strip() != etags[number].strip().strip('"'):
                    raise MultipartError(f"part {number}'s ETag does not match the part received")
            target = self.uploads.path(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(home / "data", target)
            shutil.rmtree(home, ignore_errors=True)
        finally:
            with self._lock:
                self._completing.discard(multipart_id)
        self.on_complete(key)

    def abort_multipart(self, key: str, multipart_id: str) -> bool:
        with self._lock:
            try:
                home = self._home(key, multipart_id)
            except MultipartError:
                return False
            if multipart_id in self._completing:
                return False
            self._completing.add(multipart_id)  # no part starts writing any more
        shutil.rmtree(home, ignore_errors=True)
        with self._lock:
            self._completing.discard(multipart_id)
        return True

    def remove_expired(self, now: float | None = None) -> None:
        """Drop unfinished uploads started more than a day ago (:data:`MULTIPART_LIFETIME`)."""
        cutoff = (time.time() if now is None else now) - MULTIPART_LIFETIME
        for home in self.folder.iterdir():
            started = home / "key"  # written once, at start
            if (started.stat() if started.exists() else home.stat()).st_mtime < cutoff:
                shutil.rmtree(home, ignore_errors=True)

    def _home(self, key: str, multipart_id: str) -> Path:
        home = self.folder / multipart_id
        if not _ID.fullmatch(multipart_id) or not (home / "data").exists():
            raise UnknownMultipartError
        if (home / "key").read_text(encoding="utf-8") != key:
            raise UnknownMultipartError
        return home
