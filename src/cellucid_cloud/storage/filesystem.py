"""Filesystem adapters: the local stack's buckets are folders, and their originals are handed
out from an open file.

A folder is published by copying it into a hidden staging name beside the target and renaming
it into place, so the prefix appears complete or not at all, even across a crash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import BinaryIO

from cachetools import LRUCache

from cellucid_cloud.core.files import staged
from cellucid_cloud.core.paths import is_safe_relative_path
from cellucid_cloud.storage.downloads import OpenFile, Redirect

__all__ = ["FilesystemDownloads", "FilesystemObjectStore"]


class FilesystemObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """The file behind a key; keys are relative paths without ``..`` or empty segments."""
        if not is_safe_relative_path(key.rstrip("/")):
            raise ValueError(f"unsafe object key {key!r}")
        return self.root / key

    def uri(self, key: str) -> str:
        """The key as a root-relative URL, where ``up`` serves it (``/exports/<id>/``): a
        ``file://`` URI would tell everyone reading a meta answer the server's folders."""
        self.path(key)  # refuses unsafe keys
        return f"/{key}"

    def put_folder(self, prefix: str, folder: Path) -> int:
        target = self.path(prefix.rstrip("/"))
        if target.exists():
            raise FileExistsError(f"{prefix} already exists; exports are never overwritten")
        target.parent.mkdir(parents=True, exist_ok=True)
        with staged(target, target.parent / f".staging-{target.name}-{uuid.uuid4().hex}") as copy:
            shutil.copytree(folder, copy.path)
            copy.publish()
        return sum(p.stat().st_size for p in target.rglob("*") if p.is_file())

    def fetch(self, key: str, destination: Path) -> str:
        source = self.path(key)
        shutil.copyfile(source, destination)
        return file_etag(destination)

    def exists(self, key: str) -> bool:
        return self.path(key.rstrip("/")).exists()

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.path(prefix.rstrip("/")), ignore_errors=True)

    def put(self, key: str, data: bytes | BinaryIO) -> None:
        """Store bytes or a stream's bytes (session bundles) atomically: a temporary name,
        then a rename."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with staged(target, target.parent / f".incoming-{uuid.uuid4().hex}") as blob:
            with blob.path.open("wb") as out:
                if isinstance(data, bytes):
                    out.write(data)
                else:
                    shutil.copyfileobj(data, out, 1 << 20)
            blob.publish()

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def open(self, key: str) -> BinaryIO:
        return self.path(key).open("rb")

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def download_url(self, key: str, file_name: str, expires_in: int) -> None:
        """None: files are served by the process that holds them."""
        del key, file_name, expires_in


class FilesystemDownloads:
    """Originals from an open file (:mod:`~cellucid_cloud.storage.downloads`)."""

    def __init__(self, store: FilesystemObjectStore, max_remembered: int = 1024) -> None:
        self.store = store
        self._digests: LRUCache[tuple[int, int, int, int], str] = LRUCache(max_remembered)
        self._lock = threading.Lock()

    def locate(self, key: str, etag: str, file_name: str) -> OpenFile | Redirect | None:
        del file_name  # the route names the file
        try:
            handle = self.store.path(key).open("rb")
        except (OSError, ValueError):
            return None
        try:
            stat = os.fstat(handle.fileno())
            identity = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
            with self._lock:
                digest = self._digests.get(identity)
            if digest is None:
                digest = _md5(handle)
                handle.seek(0)
                with self._lock:
                    self._digests[identity] = digest
            if digest != etag:
                handle.close()
                return None
            return OpenFile(handle, stat.st_size)
        except BaseException:
            handle.close()
            raise


def file_etag(path: Path) -> str:
    """A content identity like S3's ETag for single-part uploads (MD5 of the bytes)."""
    with path.open("rb") as f:
        return _md5(f)


def _md5(handle: BinaryIO) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()
