"""What the HTTP layer needs from one dataset, and the adapter for an export folder on disk.

The HTTP layer only ever serves the paths a source *declares*; a file that exists on disk but is
not named by the manifests is invisible. That is what makes path traversal impossible by
construction, and it is why :class:`FolderExport` derives its declared set from the manifests
instead of listing the directory.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import stat as stat_mod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from cellucid_cloud.core.paths import is_safe_relative_path
from cellucid_cloud.export.layout import ExportFolderError, read_manifests
from cellucid_cloud.export.manifests import DatasetIdentity

__all__ = [
    "ExportFolderError",
    "ExportSource",
    "FileChangedError",
    "FileInfo",
    "FolderExport",
    "PayloadError",
    "is_safe_relative_path",
]

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024


class FileChangedError(OSError):
    """A declared file changed on disk after the server started (answered with 409)."""


class PayloadError(ValueError):
    """A declared payload cannot be made from the input, e.g. a gene with NaN (answered 422)."""


@dataclass(frozen=True, slots=True)
class FileInfo:
    """Size in bytes, a strong ETag (quoted, as sent in the header), and whether the source
    offers the file gzip-encoded (:meth:`ExportSource.gzipped`)."""

    size: int
    etag: str
    gzip: bool = False


@runtime_checkable
class ExportSource(Protocol):
    """One dataset as the server sees it: metadata for catalogs plus a set of readable files.

    Paths are relative POSIX paths exactly as the manifests name them (``var/3.values.u8.gz``).
    ``stat`` and ``read`` raise :class:`FileNotFoundError` for anything not declared and
    :class:`FileChangedError` when the bytes behind a path are no longer the ones announced.
    ``read`` must fail *eagerly* (before the first chunk) so that the server can still answer
    with an error status; ``stat``, ``read`` and ``gzipped`` may be called from a worker thread
    and may raise :class:`PayloadError`.
    """

    @property
    def dataset_id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def n_cells(self) -> int: ...

    @property
    def n_genes(self) -> int: ...

    def declared_paths(self) -> frozenset[str]:
        """The servable paths; fixed for the lifetime of the source."""
        ...

    def stat(self, path: str) -> FileInfo: ...

    def read(self, path: str, start: int, stop: int) -> Iterator[bytes]:
        """Bytes ``[start, stop)`` of ``path``, in chunks."""
        ...

    def gzipped(self, path: str) -> bytes | None:
        """All of ``path`` as one gzip member, to send with ``Content-Encoding: gzip``; None
        when this source sends the file only as it is. Asked only when ``stat`` said ``gzip``."""
        ...


@dataclass(frozen=True, slots=True)
class _Recorded:
    size: int
    mtime_ns: int
    dev: int
    ino: int
    etag: str

    def matches(self, st: os.stat_result) -> bool:
        return (st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino) == (
            self.size,
            self.mtime_ns,
            self.dev,
            self.ino,
        )


class IdentityBacked:
    """The catalog metadata every source reads from its dataset identity, written once."""

    _identity: DatasetIdentity
    _declared: frozenset[str]

    @property
    def dataset_id(self) -> str:
        return self._identity.id

    @property
    def name(self) -> str:
        return self._identity.name or self.dataset_id

    @property
    def description(self) -> str:
        return self._identity.description

    @property
    def n_cells(self) -> int:
        return self._identity.stats.n_cells

    @property
    def n_genes(self) -> int:
        return self._identity.stats.n_genes

    def declared_paths(self) -> frozenset[str]:
        return self._declared


class FolderExport(IdentityBacked):
    """An export folder on disk (DESIGN §3), frozen at construction.

    Each declared file's (size, mtime_ns, dev, inode) is recorded when the folder is opened; a
    file whose stat differs later raises :class:`FileChangedError` (the server answers 409), so a
    long-cached response can never be paired with different bytes. The strong ETag is a hash of
    that record, which is cheap for exports with tens of thousands of gene files and, because of
    the 409 rule, never names two different contents. Files are opened with ``O_NOFOLLOW``;
    symlinks and anything resolving outside the folder are not served.
    """

    def __init__(self, path: Path) -> None:
        self.root = Path(path)
        manifests = read_manifests(self.root)  # ExportFolderError when missing or malformed
        self._identity = manifests.identity
        wanted = manifests.declared_paths()  # manifests included, unsafe paths already dropped
        self._files: dict[str, _Recorded] = {}
        real_root = os.path.realpath(self.root)
        missing = 0
        for rel in sorted(wanted):
            full = self.root / rel
            try:
                st = os.lstat(full)
            except OSError:
                missing += 1
                continue
            inside = os.path.realpath(full).startswith(real_root + os.sep)
            if not stat_mod.S_ISREG(st.st_mode) or not inside:
                log.warning("not serving %s: not a regular file inside the export", full)
                continue
            self._files[rel] = _Recorded(
                st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, _etag(rel, st)
            )
        self._declared = frozenset(self._files)
        if missing:
            log.warning("%s: %d declared file(s) missing on disk", self.root, missing)

    @property
    def dataset_id(self) -> str:
        return self._identity.id or self.root.name

    def _record(self, path: str) -> _Recorded:
        try:
            return self._files[path]
        except KeyError:
            raise FileNotFoundError(path) from None

    def stat(self, path: str) -> FileInfo:
        rec = self._record(path)
        try:
            st = os.lstat(self.root / path)
        except FileNotFoundError:
            raise FileChangedError(f"{path} was removed") from None
        if not rec.matches(st):
            raise FileChangedError(f"{path} changed since the server started")
        return FileInfo(rec.size, rec.etag)

    def read(self, path: str, start: int, stop: int) -> Iterator[bytes]:
        rec = self._record(path)
        try:
            fd = os.open(
                self.root / path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
            )
        except FileNotFoundError:
            raise FileChangedError(f"{path} was removed") from None
        except OSError as exc:  # ELOOP: replaced by a symlink
            raise FileChangedError(f"{path} cannot be opened safely: {exc}") from exc
        fh = os.fdopen(fd, "rb")
        if not rec.matches(os.fstat(fh.fileno())):
            fh.close()
            raise FileChangedError(f"{path} changed since the server started")
        fh.seek(start)
        return _chunks(fh, stop - start)

    def gzipped(self, path: str) -> None:
        """Files are sent as they are: an export's payloads are already ``.gz`` members."""
        del path


def _chunks(fh: io.BufferedReader, remaining: int) -> Iterator[bytes]:
    with fh:
        while remaining > 0:
            block = fh.read(min(_CHUNK, remaining))
            if not block:
                raise FileChangedError("file shrank while being read")
            remaining -= len(block)
            yield block


def _etag(rel: str, st: os.stat_result) -> str:
    key = f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_dev}\0{st.st_ino}".encode()
    return '"' + hashlib.blake2b(key, digest_size=16).hexdigest() + '"'
