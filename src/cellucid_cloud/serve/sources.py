"""What the HTTP layer needs from one dataset, and the adapter for an export folder on disk.

The HTTP layer only ever serves the paths a source *declares*; a file that exists on disk but is
not named by the manifests is invisible. That is what makes path traversal impossible by
construction, and it is why :class:`FolderExport` derives its declared set from the manifests
instead of listing the directory.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import stat as stat_mod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "IDENTITY_NAME",
    "MANIFEST_NAMES",
    "ExportFolderError",
    "ExportSource",
    "FileChangedError",
    "FileInfo",
    "FolderExport",
    "declared_payload_paths",
    "is_safe_relative_path",
]

log = logging.getLogger(__name__)

IDENTITY_NAME = "dataset_identity.json"
MANIFEST_NAMES = (
    IDENTITY_NAME,
    "obs_manifest.json",
    "var_manifest.json",
    "connectivity_manifest.json",
)
_CODES_EXT = {"uint8": "u8", "uint16": "u16", "uint32": "u32"}
_CHUNK = 256 * 1024


class ExportFolderError(ValueError):
    """The folder is not a usable export (missing or malformed identity or manifest)."""


class FileChangedError(OSError):
    """A declared file changed on disk after the server started (answered with 409)."""


@dataclass(frozen=True, slots=True)
class FileInfo:
    """Size in bytes and a strong ETag (quoted, as sent in the header)."""

    size: int
    etag: str


@runtime_checkable
class ExportSource(Protocol):
    """One dataset as the server sees it: metadata for catalogs plus a set of readable files.

    Paths are relative POSIX paths exactly as the manifests name them (``var/3.values.u8.gz``).
    ``stat`` and ``read`` raise :class:`FileNotFoundError` for anything not declared and
    :class:`FileChangedError` when the bytes behind a path are no longer the ones announced.
    ``read`` must fail *eagerly* (before the first chunk) so that the server can still answer
    with an error status; it may be called from a worker thread.
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


def is_safe_relative_path(path: str) -> bool:
    """True for a plain relative POSIX path: no ``.``/``..``/empty segments, no ``\\`` or NUL.

    Manifests are data, so a hostile one could name ``../../etc/passwd``; such entries are
    dropped rather than trusted.
    """
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return False
    return all(seg not in ("", ".", "..") for seg in path.split("/"))


def _fill(pattern: str, index: object, ext: str) -> str:
    # str.replace, not str.format: a pattern from a manifest must not be able to index attributes.
    return pattern.replace("{index}", str(index)).replace("{ext}", ext)


def _as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def declared_payload_paths(
    identity: dict[str, Any],
    obs: dict[str, Any] | None,
    var: dict[str, Any] | None,
    connectivity: dict[str, Any] | None,
) -> set[str]:
    """Every payload path the manifests name (identity v3, ``compact_v2`` manifests).

    Embeddings and vector fields come from the identity, obs payloads from ``_obsSchemas``
    patterns (codes ``{ext}`` from each field's ``codesDtype``), genes from
    ``_varSchema.pathPattern`` for each ``fields`` index, edges from the connectivity manifest.
    Unsafe paths are dropped.
    """
    paths: set[str] = set()
    items = _as_dict(_as_dict(identity.get("embeddings")).get("items"))
    paths.update(
        str(item["file"]) for item in items.values() if isinstance(item, dict) and item.get("file")
    )
    for field in _as_dict(_as_dict(identity.get("vector_fields")).get("fields")).values():
        paths.update(str(f) for f in _as_dict(_as_dict(field).get("files")).values() if f)

    if obs is not None:
        schemas = _as_dict(obs.get("_obsSchemas"))
        cont = _as_dict(schemas.get("continuous"))
        cat = _as_dict(schemas.get("categorical"))
        if pattern := cont.get("pathPattern"):
            ext = str(cont.get("ext", ""))
            for tup in _as_list(obs.get("_continuousFields")):
                paths.add(_fill(str(pattern), _as_list(tup)[0], ext))
        codes_pattern = cat.get("codesPathPattern")
        outlier_pattern = cat.get("outlierPathPattern")
        for tup in _as_list(obs.get("_categoricalFields")):
            index = _as_list(tup)[0]
            if codes_pattern:
                codes_dtype = str(tup[3]) if len(tup) > 3 else ""
                paths.add(_fill(str(codes_pattern), index, _CODES_EXT.get(codes_dtype, "")))
            if outlier_pattern:
                paths.add(_fill(str(outlier_pattern), index, str(cat.get("outlierExt", ""))))

    if var is not None:
        schema = _as_dict(var.get("_varSchema"))
        if pattern := schema.get("pathPattern"):
            ext = str(schema.get("ext", ""))
            for tup in _as_list(var.get("fields")):
                paths.add(_fill(str(pattern), _as_list(tup)[0], ext))

    if connectivity is not None:
        for key in ("sourcesPath", "destinationsPath", "weightsPath"):
            if value := connectivity.get(key):
                paths.add(str(value))

    unsafe = {p for p in paths if not is_safe_relative_path(p)}
    for p in sorted(unsafe):
        log.warning("ignoring unsafe path declared by a manifest: %r", p)
    return paths - unsafe


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


class FolderExport:
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
        identity = self._load_json(IDENTITY_NAME)
        if identity is None:
            raise ExportFolderError(f"{self.root}: no {IDENTITY_NAME} (not an export folder)")
        self._identity = identity
        manifests = {name: self._load_json(name) for name in MANIFEST_NAMES[1:]}
        wanted = declared_payload_paths(
            identity,
            manifests["obs_manifest.json"],
            manifests["var_manifest.json"],
            manifests["connectivity_manifest.json"],
        )
        wanted.add(IDENTITY_NAME)
        wanted.update(name for name, data in manifests.items() if data is not None)
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

    def _load_json(self, name: str) -> dict[str, Any] | None:
        path = self.root / name
        try:
            with open(path, "rb") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ExportFolderError(f"{path}: unreadable JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ExportFolderError(f"{path}: expected a JSON object")
        return data

    @property
    def dataset_id(self) -> str:
        return str(self._identity.get("id") or self.root.name)

    @property
    def name(self) -> str:
        return str(self._identity.get("name") or self.dataset_id)

    @property
    def description(self) -> str:
        return str(self._identity.get("description") or "")

    @property
    def n_cells(self) -> int:
        return int(_as_dict(self._identity.get("stats")).get("n_cells") or 0)

    @property
    def n_genes(self) -> int:
        return int(_as_dict(self._identity.get("stats")).get("n_genes") or 0)

    def declared_paths(self) -> frozenset[str]:
        return self._declared

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
