"""Direct mode: an AnnData file served as if it had been exported, with no export step.

The manifests and the small payloads (embeddings, obs fields, graph) are built by the same code
as ``prepare``; genes are float32 columns of X, exact, read per request:

* X stored by genes (CSC): the column is read directly;
* X stored by cells (CSR or dense rows): from the gene-major copy (``gene_copy.py``) once a child
  process has built it, and until then from X itself: a CSR X by passes over its stored entries
  that answer every gene waiting (``csr_columns.py``), so X is never held whole.

Start-up is short because only the identity waits for it: the export engine's outline gives the
identity without the obs manifest's centroids, which are computed in the background (or when the
obs manifest is first asked for); the built manifests are kept in the cache folder
(``manifest_cache.py``), so a restart of the unchanged file answers the identity before anndata
is imported, and rebuilds the payloads in the background. This module imports the export engine
(anndata and its stack), and even numpy, only when it needs them.

Every gene is kept as the gzip member an export would hold for it, in a small LRU. Each binary
payload ``p`` is also served as ``p.gz``, its gzip member, as an export's ``.gz`` file is: raw
bytes for the viewer to inflate. ``gzipped(p)`` gives the same member for ``Content-Encoding:
gzip``. Continuous obs fields are 16-bit so that missing values keep a code. Good for a quick look
at a file; a real export (``prepare``) is what should be published.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cachetools import LRUCache
from zlib_ng import zlib_ng

from cellucid_cloud.export.collector import collector_paused
from cellucid_cloud.export.errors import PrepareError
from cellucid_cloud.export.format import FLOAT32, GENE_VALUES
from cellucid_cloud.export.gzip_codec import gzip_column, gzip_payload
from cellucid_cloud.export.layout import ExportManifests
from cellucid_cloud.export.manifests import (
    IDENTITY_FILE,
    OBS_MANIFEST_FILE,
    DatasetIdentity,
    dump_json,
)
from cellucid_cloud.serve.cache_folder import FileKey, cache_root
from cellucid_cloud.serve.gene_copy import LEVEL, GeneCopy
from cellucid_cloud.serve.manifest_cache import ManifestCache
from cellucid_cloud.serve.sources import FileChangedError, FileInfo, IdentityBacked, PayloadError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from cellucid_cloud.export.on_demand import OnDemandExport
    from cellucid_cloud.serve.csr_columns import CsrColumns

__all__ = ["DEFAULT_CACHE_BYTES", "DirectExport"]

log = logging.getLogger(__name__)

_GENE = GENE_VALUES.matcher(FLOAT32)
DEFAULT_CACHE_BYTES: Final = 64 << 20
SCAN_ENTRIES: Final = 1 << 20
"""Stored entries of a CSR X read at a time while there is no gene-major copy (4 MiB of
indices): smaller blocks stay in the CPU's caches, larger ones gain nothing."""
COPY_ABOVE: Final = 1 << 24
"""Cells of X (cells x genes) above which X stored by cells gets a gene-major copy: below it a
scan or a column read takes milliseconds, and a copy would only cost a process."""
_SMALL_COLUMN: Final = 1 << 18
"""A gene of at most 256 KiB (64k cells) is compressed at level 9: it costs nothing there."""
_ROW_MAJOR: Final = frozenset({"csr", "dense"})
BACKGROUND_AFTER: Final = 2.0
"""Seconds after :meth:`DirectExport.start` when the background work begins at the latest."""
SETTINGS: Final = {
    "compression": 0,
    "var_quantization": 0,
    "obs_quantization": 16,
    "outlier_quantization": 0,
}
"""Direct mode's export settings: exact float32 genes, 16-bit continuous obs (missing values
keep a code), float32 outlier quantiles (they need no range in the manifest, so they are
computed only when asked for)."""


class _Once[T]:
    """A value computed once: in the background from :meth:`start`, or by its first reader."""

    def __init__(self, compute: Callable[[], T]) -> None:
        self._compute = compute
        self._lock = threading.Lock()
        self._future: Future[T] | None = None

    @classmethod
    def of(cls, value: T) -> _Once[T]:
        done = cls(lambda: value)
        done.get()
        return done

    def _claim(self) -> Future[T] | None:
        """The future to fill, when nobody has started computing yet."""
        with self._lock:
            if self._future is not None:
                return None
            self._future = Future()
            return self._future

    def _run(self, future: Future[T]) -> None:
        try:
            future.set_result(self._compute())
        except BaseException as error:  # handed to every reader
            future.set_exception(error)

    @property
    def started(self) -> bool:
        return self._future is not None

    def start(self, name: str) -> threading.Thread | None:
        future = self._claim()
        if future is None:
            return None
        thread = threading.Thread(target=self._run, args=(future,), name=name, daemon=True)
        thread.start()
        return thread

    def get(self) -> T:
        future = self._claim()
        if future is not None:
            self._run(future)
        assert self._future is not None
        return self._future.result()


class DirectExport(IdentityBacked):
    """An .h5ad, .zarr or .zarr.zip served through the ExportSource port.

    Call :meth:`start` once the server is up (it starts the background work: centroids or
    payloads, and the gene-major copy) and :meth:`close` when it stops. ``cache_dir``
    overrides where the manifests and the copy live
    (:func:`~cellucid_cloud.serve.cache_folder.cache_root`).
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
        self._files: dict[str, bytes] = {}
        self._threads: list[threading.Thread] = []
        self._background_lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._cache = self._manifest_cache(cache_dir)
        cached = self._cache.load() if self._cache is not None else None
        self._engine: _Once[OnDemandExport]
        self._obs_manifest: _Once[bytes]
        if cached is None:
            engine = self._open()
            self._engine = _Once.of(engine)
            self._obs_manifest = _Once(self._centroids)
            manifests = engine.manifests
            layout: str | None = engine.layout
            self._files.update(self._documents(manifests))
        else:
            self._engine = _Once(self._reopen)
            self._obs_manifest = _Once.of(cached.documents[OBS_MANIFEST_FILE])
            manifests, layout = cached.manifests, cached.layout
            self._files.update(cached.documents)
        self._identity: DatasetIdentity = manifests.identity
        self._plain = manifests.declared_paths()
        self._declared = self._plain | {p + ".gz" for p in self._plain if not p.endswith(".json")}
        self._later_lock = threading.Lock()
        self._gzipped: dict[str, bytes] = {}
        self._genes: LRUCache[int, bytes] = LRUCache(maxsize=cache_bytes, getsizeof=len)
        self._genes_lock = threading.Lock()
        self._scan_entries = scan_entries
        self._csr: _Once[CsrColumns | None] = _Once(self._csr_columns)
        self._copy = (
            GeneCopy(self.path, self.n_genes, key=self._key, cache_dir=cache_dir)
            if self.n_genes and layout in _ROW_MAJOR and self.n_cells * self.n_genes > copy_above
            else None
        )
        self._etag_base = f"{self._key.folder_name()}\0{self._stat.st_ino}\0"

    def _manifest_cache(self, cache_dir: Path | None) -> ManifestCache | None:
        try:
            return ManifestCache(cache_root(self.path, cache_dir), self._key)
        except OSError as error:
            log.warning("built manifests will not be kept: %s", error)
            return None

    @property
    def gene_copy(self) -> GeneCopy | None:
        """The gene-major copy, for an X stored by cells."""
        return self._copy

    @property
    def centroids_started(self) -> bool:
        """Whether the obs manifest is built or being built (found cached: from the start)."""
        return self._obs_manifest.started

    def start(self) -> None:
        """Start building the gene-major copy, if X needs one, and arm the background work:
        the centroids (or, on a restart, the payloads) are computed from the moment a viewer
        asks for the identity, so that they never delay that answer, or ``BACKGROUND_AFTER``
        seconds from now if none has."""
        if self._copy is not None:
            self._copy.start()
        with self._background_lock:
            self._timer = threading.Timer(BACKGROUND_AFTER, self._background)
            self._timer.daemon = True
            self._timer.start()

    def _background(self) -> None:
        with self._background_lock:
            if self._timer is None:  # not started, or closed
                return
            for once, name in ((self._obs_manifest, "centroids"), (self._engine, "payloads")):
                thread = once.start(f"direct-{name}")
                if thread is not None:
                    self._threads.append(thread)

    def close(self) -> None:
        if self._copy is not None:
            self._copy.close()
        with self._background_lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        for thread in self._threads:
            thread.join()
        self._stack.close()

    # The export engine (anndata and its stack are imported here, not at start).

    def _open(self) -> OnDemandExport:
        """Open the input and outline its export: payloads are built into ``_files``."""
        with collector_paused():
            from cellucid_cloud.export.on_demand import outline_on_demand
            from cellucid_cloud.export.settings import ExportSettings
            from cellucid_cloud.export.source import open_source

        source = self._stack.enter_context(open_source(self.path))
        return outline_on_demand(source, ExportSettings.model_validate(SETTINGS), self._files)

    @staticmethod
    def _documents(manifests: ExportManifests) -> dict[str, bytes]:
        """The manifests' JSON files but the obs manifest (its centroids are not computed)."""
        from cellucid_cloud.export.outline import manifest_documents

        documents = manifest_documents(manifests)
        del documents[OBS_MANIFEST_FILE]
        return documents

    def _centroids(self) -> bytes:
        """The obs manifest with its centroids; then every manifest is kept for a restart."""
        engine = self._engine.get()
        document = dump_json(engine.outline.obs_manifest())
        if self._cache is not None and FileKey.of(self.path) == self._key:
            documents = {**self._documents(engine.manifests), OBS_MANIFEST_FILE: document}
            self._cache.store(documents, engine.layout)
        return document

    def _reopen(self) -> OnDemandExport:
        """A restart's engine: the payloads, and a check that it decides what was cached."""
        engine = self._open()
        built = self._documents(engine.manifests)
        if (
            any(self._files.get(name) != data for name, data in built.items())
            or engine.manifests.declared_paths() != self._plain
        ):
            if self._cache is not None:
                self._cache.remove()
            raise FileChangedError(
                f"{self.path} does not give the manifests cached for it; restart the server"
            )
        return engine

    # Serving.

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
        if path == IDENTITY_FILE:  # a viewer is here: what it asks for next is computed now
            self._background()

    def _payload(self, path: str) -> bytes | None:
        """A plain declared path's bytes, built now if it was left for later; None for a gene."""
        if _GENE.match(path):
            return None
        if path == OBS_MANIFEST_FILE:
            return self._obs_manifest.get()
        if path.endswith(".json"):  # the other manifests are known from the start
            return self._files[path]
        later = self._engine.get().later  # on a restart, the payloads are built here
        import numpy as np

        data = self._files.get(path)
        if data is None:
            with self._later_lock:
                data = self._files.get(path)
                if data is None:
                    data = np.ascontiguousarray(later[path]()).tobytes()
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
        """Gene ``index`` read from X: a pass over a stored CSR X, else the column itself."""
        import numpy as np

        try:
            csr = self._csr.get()
            if csr is not None:
                return csr.column(index)
            from cellucid_cloud.export.matrix_checks import to_csc

            matrix = self._engine.get().source.matrix
            assert matrix is not None, "declared genes imply a matrix"
            what = f"gene {index}"
            if matrix.layout == "csr":  # in memory or an unknown store: through whole rows
                column = np.zeros(self.n_cells, "<f4")
                rows = max(1, self._scan_entries // max(1, self.n_genes))
                for first in range(0, self.n_cells, rows):
                    block = to_csc(matrix.rows(first, min(first + rows, self.n_cells)), what)
                    part = block[:, index]
                    column[first + part.indices] = part.data
                if not np.isfinite(column).all():
                    raise PrepareError(f"X has NaN or infinite values ({what})")
                return column
            dense = to_csc(matrix.columns(index, index + 1), what).toarray()
            return np.ascontiguousarray(dense, dtype="<f4").ravel()
        except PrepareError as error:
            raise PayloadError(str(error)) from None

    def _csr_columns(self) -> CsrColumns | None:
        """The CSR scanner over X's stored arrays, when X is a stored CSR group."""
        import numpy as np

        from cellucid_cloud.serve.csr_columns import CsrColumns, stored_array

        matrix = self._engine.get().source.matrix
        group = getattr(getattr(matrix, "array", None), "group", None)
        if matrix is None or matrix.layout != "csr" or group is None:
            return None
        indptr = np.asarray(group["indptr"][...], dtype=np.int64)
        if indptr.size != self.n_cells + 1 or np.any(np.diff(indptr) < 0):
            raise PrepareError("X is corrupt: its indptr decreases or has the wrong length")
        fd = self._raw_fd(group)
        return CsrColumns(
            indptr,
            stored_array(group["indices"], fd),
            stored_array(group["data"], fd),
            self.n_genes,
            self._scan_entries,
        )

    def _raw_fd(self, group: Any) -> int | None:
        """A descriptor of the input for raw reads of X: an HDF5 file without a user block,
        still the file the server started with."""
        handle = getattr(group, "file", None)
        if handle is None or getattr(handle, "userblock_size", None) != 0:
            return None
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._stack.callback(os.close, fd)
        st = os.fstat(fd)
        if (st.st_ino, st.st_size, st.st_mtime_ns) != (
            self._stat.st_ino,
            self._stat.st_size,
            self._stat.st_mtime_ns,
        ):
            raise FileChangedError(f"{self.path} changed since the server started")
        return fd


def _inflate(member: bytes) -> bytes:
    return zlib_ng.decompress(member, zlib_ng.MAX_WBITS | 16)


def _gene_index(path: str) -> int:
    match = _GENE.match(path)
    if match is None:
        raise FileNotFoundError(path)
    return int(match.group(1))
