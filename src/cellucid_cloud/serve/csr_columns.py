"""Genes (columns) of a CSR X read from its stored entries, several genes per pass.

A column of a CSR matrix is spread over all of it: finding gene ``g`` means reading every
stored index. Until the gene-major copy is built, that pass is what answers a gene, so it is
made as cheap as it can be:

* **Raw reads.** An HDF5 array stored without filters (anndata's default: contiguous, or chunked
  and uncompressed) is read with ``os.preadv`` straight into a reused buffer at the file offsets
  HDF5 reports for it (``export/hdf5_direct.py``, shared with the export's blocks), without
  HDF5's chunk machinery (~5x less CPU than slicing it through h5py at 200,000 cells). Anything
  else (compressed chunks, zarr) is sliced through its library.
* **One pass, several genes.** Genes asked for while a pass runs wait for the next one, which
  answers all of them: one read of the indices serves them all.
* **Bounded.** ``block`` stored entries are read at a time (indices, then the values between the
  first and last hit of the block), so memory is a few blocks plus the columns being built,
  never X.

Values are checked finite (a NaN gene is a 422, as Cellucid's own server answers it).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from cellucid_cloud.export.errors import PrepareError
from cellucid_cloud.export.hdf5_direct import StoredRuns, stored_runs

__all__ = ["CsrColumns", "StoredArray", "stored_array"]

SPARSE: Final = 512
"""Elements to read, per element wanted, above which the wanted ones are read one by one."""
BATCH_BYTES: Final = 64 << 20
"""Columns built by one pass at most (float32, one per cell): 80 genes at 200,000 cells."""


class StoredArray:
    """A 1-D stored array read by ranges: through the library, or raw from the file."""

    def __init__(self, array: Any) -> None:
        self.array = array
        self.dtype = np.dtype(array.dtype)
        self.size = int(array.shape[0])

    def read(self, start: int, stop: int, out: NDArray[Any]) -> NDArray[Any]:
        """Elements ``[start, stop)``, in ``out`` (of this dtype, long enough) when they can be
        read in place."""
        return np.asarray(self.array[start:stop])

    def pick(self, positions: NDArray[np.int64], out: NDArray[Any]) -> NDArray[Any]:
        """The elements at ``positions`` (increasing): read from the first to the last."""
        first, last = int(positions[0]), int(positions[-1]) + 1
        return self.read(first, last, out)[positions - first]


class _RawStoredArray(StoredArray):
    """An HDF5 array without filters, read at its bytes' places in the file (``hdf5_direct``)."""

    def __init__(self, array: Any, runs: StoredRuns) -> None:
        super().__init__(array)
        self._runs = runs

    def pick(self, positions: NDArray[np.int64], out: NDArray[Any]) -> NDArray[Any]:
        """Few elements far apart (one gene's values among all genes') are read one by one:
        a read of 4 bytes each instead of everything between them."""
        if positions.size * SPARSE >= int(positions[-1]) - int(positions[0]):
            return super().pick(positions, out)
        item = self.dtype.itemsize
        offsets = self._runs.offsets_of(positions).tolist()
        data = b"".join([os.pread(self._runs.fd, item, offset) for offset in offsets])
        if len(data) != positions.size * item:
            raise OSError(f"short read of X ({len(data)} of {positions.size * item} bytes)")
        return np.frombuffer(data, self.dtype)

    def read(self, start: int, stop: int, out: NDArray[Any]) -> NDArray[Any]:
        return self._runs.read_into(start, stop, out)


def stored_array(array: Any, fd: int | None) -> StoredArray:
    """``array`` (an h5py dataset, a zarr array…) read raw when its file layout allows it:
    an HDF5 dataset without filters, every chunk allocated, in a file open as ``fd``."""
    if fd is None or getattr(array, "id", None) is None:
        return StoredArray(array)
    runs = stored_runs(array, fd)
    return StoredArray(array) if runs is None else _RawStoredArray(array, runs)


class CsrColumns:
    """Columns of a stored CSR matrix (``indptr``, ``indices``, ``data``), built by passes
    over its stored entries that answer every gene waiting when they start."""

    def __init__(
        self,
        indptr: NDArray[np.int64],
        indices: StoredArray,
        data: StoredArray,
        n_genes: int,
        block: int,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self._indptr = indptr
        self._indices = indices
        self._data = data
        self._n_cells = indptr.size - 1
        self._n_genes = n_genes
        self._block = block
        self._batch = max(1, batch_bytes // (4 * max(1, self._n_cells)))
        self._lock = threading.Lock()
        self._waiting: dict[int, Future[NDArray[np.float32]]] = {}
        self._running: dict[int, Future[NDArray[np.float32]]] = {}
        self._scanning = False

    def column(self, gene: int) -> NDArray[np.float32]:
        """Gene ``gene`` as float32 per cell; raises PrepareError for NaN or infinite values."""
        with self._lock:
            future = self._running.get(gene) or self._waiting.get(gene)
            if future is None:
                future = self._waiting[gene] = Future()
            scan = not self._scanning
            self._scanning = True
        while scan:
            scan = self._next_pass()
        return future.result()

    def _next_pass(self) -> bool:
        """Answer the genes waiting now (up to a batch); False when none were left."""
        with self._lock:
            chosen = sorted(self._waiting)[: self._batch]
            if not chosen:
                self._scanning = False
                return False
            self._running = {gene: self._waiting.pop(gene) for gene in chosen}
        try:
            columns = self._scan(chosen)
        except Exception as error:  # every waiter gets it, and the next pass still runs
            for future in self._running.values():
                future.set_exception(error)
        else:
            for gene, future in self._running.items():
                column = columns[gene]
                if isinstance(column, PrepareError):
                    future.set_exception(column)
                else:
                    future.set_result(column)
        with self._lock:
            self._running = {}
        return True

    def _scan(self, genes: Sequence[int]) -> dict[int, NDArray[np.float32] | PrepareError]:
        """One pass over the stored entries; a gene with NaN or infinite values gets its error."""
        columns: dict[int, NDArray[np.float32] | PrepareError] = {
            gene: np.zeros(self._n_cells, "<f4") for gene in genes
        }
        wanted = np.zeros(self._n_genes, dtype=bool)
        wanted[list(genes)] = True
        single = genes[0] if len(genes) == 1 else None
        total = int(self._indptr[-1])
        index_buffer = np.empty(min(self._block, total), self._indices.dtype)
        value_buffer = np.empty(min(self._block, total), self._data.dtype)
        for start in range(0, total, self._block):
            stop = min(start + self._block, total)
            block = self._indices.read(start, stop, index_buffer)
            if single is not None:
                hits = np.flatnonzero(block == single)
            else:
                hits = np.flatnonzero(np.take(wanted, block, mode="clip"))
                hits = hits[(block[hits] >= 0) & (block[hits] < self._n_genes)]
            if hits.size == 0:
                continue
            positions = hits + start
            values = self._data.pick(positions, value_buffer).astype(np.float32, copy=False)
            cells = np.searchsorted(self._indptr, positions, side="right") - 1
            owners = block[hits]
            for gene in genes:
                column = columns[gene]
                if isinstance(column, PrepareError):
                    continue
                mine = owners == gene if single is None else slice(None)
                picked = values[mine]
                if np.isfinite(picked).all():
                    column[cells[mine]] = picked
                else:
                    columns[gene] = PrepareError(f"X has NaN or infinite values (gene {gene})")
        return columns
