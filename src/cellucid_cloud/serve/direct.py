"""Direct mode: an AnnData file served as if it had been exported, with no export step.

The manifests and the small payloads (embeddings, obs fields, graph) are built at start by the
same code as ``prepare``; genes are float32 columns of X, exact, read per request:

* X stored by genes (CSC): the column is read directly;
* X stored by cells (CSR or dense rows): from the gene-major copy (``gene_copy.py``) once a child
  process has built it, and until then from X itself, a bounded block at a time, so X is never
  held whole (the scan is serialised: several at once would multiply that memory).

Every gene is kept as the gzip member an export would hold for it, in a small LRU. Each binary
payload ``p`` is also served as ``p.gz``, its gzip member, as an export's ``.gz`` file is: raw
bytes for the viewer to inflate. ``gzipped(p)`` gives the same member for ``Content-Encoding:
gzip``. Continuous obs fields are 16-bit so that missing values keep a code. Good for a quick look
at a file; a real export (``prepare``) is what should be published.
"""

import contextlib
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import numpy as np
from cachetools import LRUCache
from numpy.typing import NDArray
from zlib_ng import zlib_ng

from cellucid_cloud.export.errors import PrepareError
from cellucid_cloud.export.genes import to_csc
from cellucid_cloud.export.gzip_codec import gzip_column, gzip_payload
from cellucid_cloud.export.manifests import VarManifest
from cellucid_cloud.export.prepare import (
    Payloads,
    describe_export,
    manifest_documents,
    plan_export,
    var_manifest,
)
from cellucid_cloud.export.settings import ExportSettings
from cellucid_cloud.export.source import MatrixBlocks, open_source
from cellucid_cloud.serve.gene_copy import LEVEL, FileKey, GeneCopy
from cellucid_cloud.serve.sources import FileChangedError, FileInfo, IdentityBacked, PayloadError

__all__ = ["DEFAULT_CACHE_BYTES", "DirectExport"]

log = logging.getLogger(__name__)

_GENE = re.compile(r"^var/(\d+)\.values\.f32$")
DEFAULT_CACHE_BYTES: Final = 64 << 20
SCAN_ENTRIES: Final = 1 << 22
"""Stored entries of a CSR X read at a time while there is no gene-major copy (32 MiB)."""
COPY_ABOVE: Final = 1 << 24
"""Cells of X (cells x genes) above which X stored by cells gets a gene-major copy: below it a
scan or a column read takes milliseconds, and a copy would only cost a process."""
_SMALL_COLUMN: Final = 1 << 18
"""A gene of at most 256 KiB (64k cells) is compressed at level 9: it costs nothing there."""
_ROW_MAJOR: Final = frozenset({"csr", "dense"})


class DirectExport(IdentityBacked):
    """An .h5ad, .zarr or .zarr.zip served through the ExportSource port.

    Call :meth:`start` once the server is up (it starts building the gene-major copy) and
    :meth:`close` when it stops. ``cache_dir`` overrides where the copy lives
    (:func:`~cellucid_cloud.serve.gene_copy.cache_root`).
    """

    def __init__(
        self,
        path: Path,
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        cache_dir: Path | None = None,
        scan_entries: int = SCAN_ENTRIES,
        copy_above: int = COPY_ABOVE,
    ) -> None:
        self.path = Path(path)
        self._stat = self.path.stat()
        self._key = FileKey.of(self.path)
        self._stack = contextlib.ExitStack()
        self._source = self._stack.enter_context(open_source(self.path))
        settings = ExportSettings(
            compression=0, var_quantization=0, obs_quantization=16, outlier_quantization=0
        )
        plan = plan_export(self._source, settings)
        self._files: dict[str, bytes] = {}
        names = plan.names

        def genes() -> VarManifest | None:
            if names is None:
                return None
            return var_manifest(settings, names, None, self._source.n_cells, "f32")

        with ThreadPoolExecutor(2) as pool:
            payloads = _OnDemand(self._files, pool)
            manifests = describe_export(plan, payloads, genes)
        self._later = payloads.later
        self._later_lock = threading.Lock()
        self._files.update(manifest_documents(manifests))
        self._identity = manifests.identity
        plain = manifests.declared_paths()
        self._declared = plain | {p + ".gz" for p in plain if not p.endswith(".json")}
        self._gzipped: dict[str, bytes] = {}
        self._genes: LRUCache[int, bytes] = LRUCache(maxsize=cache_bytes, getsizeof=len)
        self._genes_lock = threading.Lock()
        self._scan_lock = threading.Lock()
        self._scan_entries = scan_entries
        self._indptr: NDArray[np.int64] | None = None
        matrix = self._source.matrix
        self._copy = (
            GeneCopy(self.path, self._source.n_genes, key=self._key, cache_dir=cache_dir)
            if names is not None
            and matrix is not None
            and matrix.layout in _ROW_MAJOR
            and self._source.n_cells * self._source.n_genes > copy_above
            else None
        )
        self._etag_base = f"{self._key.folder_name()}\0{self._stat.st_ino}\0"

    @property
    def gene_copy(self) -> GeneCopy | None:
        """The gene-major copy, for an X stored by cells."""
        return self._copy

    def start(self) -> None:
        """Start building the gene-major copy in the background, if X needs one."""
        if self._copy is not None:
            self._copy.start()

    def close(self) -> None:
        if self._copy is not None:
            self._copy.close()
        self._stack.close()

    def _check_unchanged(self) -> None:
        now = self.path.stat()
        if (now.st_size, now.st_mtime_ns, now.st_ino) != (
            self._stat.st_size,
            self._stat.st_mtime_ns,
            self._stat.st_ino,
        ):
            raise FileChangedError(f"{self.path} changed since the server started")

    def _checked(self, path: str) -> None:
        if path not in self._declared:
            raise FileNotFoundError(path)
        self._check_unchanged()

    def _payload(self, path: str) -> bytes | None:
        """A plain declared path's bytes, built now if it was left for later; None for a gene."""
        data = self._files.get(path)
        if data is None and path in self._later:
            with self._later_lock:
                data = self._files.get(path)
                if data is None:
                    data = np.ascontiguousarray(self._later[path]()).tobytes()
                    self._files[path] = data
        return data

    def stat(self, path: str) -> FileInfo:
        self._checked(path)
        if path.endswith(".gz"):
            size = len(self._gzip_of(path.removesuffix(".gz")))
        else:
            data = self._payload(path)
            size = 4 * self.n_cells if data is None else len(data)
        key = (self._etag_base + path).encode()
        etag = '"' + hashlib.blake2b(key, digest_size=16).hexdigest() + '"'
        return FileInfo(size, etag, gzip=not path.endswith(".gz"))

    def read(self, path: str, start: int, stop: int) -> Iterator[bytes]:
        self._checked(path)
        if path.endswith(".gz"):
            data = self._gzip_of(path.removesuffix(".gz"))
        else:
            payload = self._payload(path)
            data = payload if payload is not None else _inflate(self._gene(_gene_index(path)))
        return iter([data[start:stop]])

    def gzipped(self, path: str) -> bytes | None:
        self._checked(path)
        return None if path.endswith(".gz") else self._gzip_of(path)

    def _gzip_of(self, path: str) -> bytes:
        """The gzip member of a plain declared path: computed once for payloads, LRU for genes."""
        raw = self._payload(path)
        if raw is None:
            return self._gene(_gene_index(path))
        data = self._gzipped.get(path)
        if data is None:
            data = gzip_payload(raw, LEVEL) if path.endswith(".json") else gzip_column(raw, LEVEL)
            self._gzipped[path] = data
        return data

    def _gene(self, index: int) -> bytes:
        with self._genes_lock:
            cached = self._genes.get(index)
        if cached is not None:
            return cached
        data = self._copy.read(index) if self._copy is not None else None
        if data is None:
            data = self._encode(self._column(index))
        with self._genes_lock:
            self._genes[index] = data
        return data

    def _encode(self, column: NDArray[np.float32]) -> bytes:
        """A gene's gzip member: the copy's exact bytes when there is (or will be) a copy;
        otherwise the smaller of run-length and LZ77 deflate, which also catches the repeated
        values of scaled data (a run-length member of a z-scored gene is far larger)."""
        raw = memoryview(column)
        if self._copy is not None:
            return gzip_column(raw, LEVEL)
        return gzip_payload(raw, 9 if column.nbytes <= _SMALL_COLUMN else LEVEL)

    def _column(self, index: int) -> NDArray[np.float32]:
        """Gene ``index`` read from X: the column itself, or a bounded scan of a CSR X."""
        matrix = self._source.matrix
        assert matrix is not None, "declared genes imply a matrix"
        what = f"gene {index}"
        try:
            if matrix.layout != "csr":
                column = to_csc(matrix.columns(index, index + 1), what).toarray()
                return np.ascontiguousarray(column, dtype="<f4").ravel()
            with self._scan_lock:
                with self._genes_lock:
                    if index in self._genes:  # another request scanned for it meanwhile
                        return np.frombuffer(_inflate(self._genes[index]), "<f4")
                return self._scan(matrix, index, what)
        except PrepareError as error:
            raise PayloadError(str(error)) from None

    def _scan(self, matrix: MatrixBlocks, index: int, what: str) -> NDArray[np.float32]:
        """One column of a CSR X, reading its stored entries a block at a time."""
        n_cells = self.n_cells
        group = getattr(getattr(matrix, "array", None), "group", None)
        column = np.zeros(n_cells, "<f4")
        if group is None:  # not a stored sparse group: go through whole rows
            rows_per_block = max(1, self._scan_entries // max(1, matrix.shape[1]))
            for first in range(0, n_cells, rows_per_block):
                block = to_csc(matrix.rows(first, min(first + rows_per_block, n_cells)), what)
                part = block[:, index]
                column[first + part.indices] = part.data
            return column
        if self._indptr is None:
            indptr = np.asarray(group["indptr"][...], dtype=np.int64)
            if indptr.size != n_cells + 1 or np.any(np.diff(indptr) < 0):
                raise PrepareError("X is corrupt: its indptr decreases or has the wrong length")
            self._indptr = indptr
        indices, data = group["indices"], group["data"]
        total = int(self._indptr[-1])
        for start in range(0, total, self._scan_entries):
            stop = min(start + self._scan_entries, total)
            hits = np.flatnonzero(np.asarray(indices[start:stop]) == index)
            if hits.size == 0:
                continue
            first, last = start + int(hits[0]), start + int(hits[-1]) + 1
            values = np.asarray(data[first:last], dtype=np.float32)[hits - int(hits[0])]
            if not np.isfinite(values).all():
                raise PrepareError(f"X has NaN or infinite values ({what})")
            column[np.searchsorted(self._indptr, hits + start, side="right") - 1] = values
        return column


class _OnDemand(Payloads):
    """Payloads kept in memory as they are; those no manifest needs are built when asked for."""

    def __init__(self, files: dict[str, bytes], pool: ThreadPoolExecutor) -> None:
        super().__init__(files.__setitem__, 0, pool)
        self.later: dict[str, Callable[[], NDArray[Any]]] = {}

    def add_later(self, path: str, compute: Callable[[], NDArray[Any]]) -> str:
        self.later[path] = compute
        return path


def _inflate(member: bytes) -> bytes:
    return zlib_ng.decompress(member, zlib_ng.MAX_WBITS | 16)


def _gene_index(path: str) -> int:
    match = _GENE.match(path)
    if match is None:
        raise FileNotFoundError(path)
    return int(match.group(1))
