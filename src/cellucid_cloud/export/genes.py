"""One file per gene from a matrix that never has to fit in memory.

The export wants columns (one dense vector of all cells per gene) while an .h5ad usually stores
rows (CSR) or dense row-major X. X is read once in row chunks; each chunk is converted to CSC and
appended to one spill file. Then each block of genes is read back, quantised into a dense block
and compressed gene by gene, blocks in parallel. CSC or in-memory matrices skip the spill and are
read a block of columns at a time. Peak memory is a few blocks and chunks, whatever the size of X.
"""

import itertools
import os
import queue
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from .errors import PrepareError
from .gzip_codec import gzip_column
from .quantize import CODE_DTYPE, MAX_CODE, Bits, quantize_with_per_item_bounds
from .source import Layout, MatrixBlocks

Progress = Callable[[str, int, int], None]
"""Called with (stage, units just done, units in the stage)."""

_CELLS_PER_RECORD: Final = 1 << 22
"""Cells of X (rows x genes) per spill record; see GeneWriter._chunk_rows."""


@dataclass
class GeneBounds:
    """Per-gene range and stored-entry count of the exported float32 values."""

    minimum: NDArray[np.float64]
    maximum: NDArray[np.float64]
    stored: NDArray[np.int64]

    @classmethod
    def empty(cls, n_genes: int) -> "GeneBounds":
        return cls(np.full(n_genes, np.inf), np.full(n_genes, -np.inf), np.zeros(n_genes, np.int64))

    @classmethod
    def of(cls, columns: sparse.csc_matrix) -> "GeneBounds":
        """The stored values' bounds of each column (infinite for a column that stores none)."""
        bounds = cls.empty(columns.shape[1])
        counts = np.diff(columns.indptr)
        present = np.nonzero(counts)[0]
        bounds.stored[:] = counts
        if present.size:
            starts = columns.indptr[:-1][present]
            bounds.minimum[present] = np.minimum.reduceat(columns.data, starts)
            bounds.maximum[present] = np.maximum.reduceat(columns.data, starts)
        return bounds

    def fold(self, other: "GeneBounds") -> None:
        """Widen to cover ``other`` (the same genes, other cells)."""
        np.minimum(self.minimum, other.minimum, out=self.minimum)
        np.maximum(self.maximum, other.maximum, out=self.maximum)
        self.stored += other.stored

    def finish(self, n_cells: int) -> None:
        """Count the implicit zeros of genes that do not store a value for every cell."""
        sparse_genes = self.stored < n_cells
        self.minimum[sparse_genes] = np.minimum(self.minimum[sparse_genes], 0.0)
        self.maximum[sparse_genes] = np.maximum(self.maximum[sparse_genes], 0.0)
        self.minimum[~np.isfinite(self.minimum)] = 0.0
        self.maximum[~np.isfinite(self.maximum)] = 0.0


@dataclass(frozen=True)
class _Block:
    """The stored entries of a block of genes, one run per record (a row chunk of X) and gene.

    Entries are ordered record by record and, within a record, gene by gene; ``rows`` count from
    the record's first row. A CSC block is one record starting at row 0.
    """

    values: NDArray[np.float32]
    rows: NDArray[np.integer]
    counts: NDArray[np.int64]
    first_rows: NDArray[np.int64]


def _check_chunk(chunk: Any, what: str) -> None:
    """Refuse structurally broken sparse data before scipy trusts it."""
    indptr, indices = chunk.indptr, chunk.indices
    if indptr.size and (np.any(np.diff(indptr) < 0) or indptr[-1] > indices.size):
        raise PrepareError(f"X is corrupt: its indptr decreases or overruns the data ({what})")
    limit = chunk.shape[0] if chunk.format == "csc" else chunk.shape[1]
    if indices.size and (indices.min() < 0 or indices.max() >= limit):
        raise PrepareError(f"X is corrupt: an index is outside the matrix ({what})")


def to_csc(block: Any, what: str) -> sparse.csc_matrix:
    """A block of X as float32 CSC, refusing corrupt structure and NaN or infinite values."""
    return _finite_csc(_checked(block, what), what)


def _checked(block: Any, what: str) -> Any:
    """A dense block, or a sparse one as CSR or CSC whose structure has been checked."""
    fmt = getattr(block, "format", None)
    if fmt is None:
        return block
    matrix = block if fmt in ("csr", "csc") else block.tocsr()
    _check_chunk(matrix, what)
    return matrix


def _finite_csc(matrix: Any, what: str) -> sparse.csc_matrix:
    """float32 CSC of a dense block or of a checked CSR/CSC one, refusing NaN and infinity."""
    if getattr(matrix, "format", None) is not None:
        result = sparse.csc_matrix(matrix).astype(np.float32, copy=False)
    else:
        result = sparse.csc_matrix(np.asarray(matrix, dtype=np.float32))
    if not np.isfinite(result.data).all():
        raise PrepareError(f"X has NaN or infinite values ({what})")
    return result


def _row_range(chunk: Any, start: int, stop: int) -> Any:
    """Rows start:stop of a checked chunk, sharing its memory (scipy's row slicing copies)."""
    if getattr(chunk, "format", None) != "csr":
        return chunk[start:stop]
    low, high = int(chunk.indptr[start]), int(chunk.indptr[stop])
    return sparse.csr_matrix(
        (chunk.data[low:high], chunk.indices[low:high], chunk.indptr[start : stop + 1] - low),
        shape=(stop - start, chunk.shape[1]),
    )


def _read_into(fd: int, target: NDArray[Any], offset: int) -> None:
    """Fill ``target`` from the file at ``offset`` without an intermediate bytes object."""
    view = memoryview(target).cast("B")
    while view:
        done = os.preadv(fd, [view], offset)
        if done <= 0:
            raise OSError(f"spill file ended early at byte {offset}")
        view, offset = view[done:], offset + done


def _grown(buffer: NDArray[Any], size: int) -> NDArray[Any]:
    return buffer if buffer.size >= size else np.empty(size, buffer.dtype)


@dataclass(frozen=True)
class _Record:
    first_row: int
    nnz: int
    offset: int


_ROW_DTYPE: Final = np.dtype("<u2")
"""Rows within a record: a record has at most 65,536 rows, so two bytes per entry suffice."""


class _Spill:
    """Row chunks of X, each stored once as CSC, from which any block of genes can be read back.

    One file holds every chunk (pointers, then values, then rows within the chunk), so the number
    of files does not grow with genes x chunks; a block is read back with positioned reads
    straight into the reading thread's buffers.
    """

    def __init__(self, path: Path, n_genes: int) -> None:
        self.path = path
        self.n_genes = n_genes
        self.records: list[_Record] = []
        self._handle = path.open("wb")
        self._offset = 0
        self._fd = -1

    def add(self, first_row: int, chunk: sparse.csc_matrix) -> None:
        nnz = int(chunk.indptr[-1])
        self.records.append(_Record(first_row, nnz, self._offset))
        self._handle.write(chunk.indptr.astype("<i8", copy=False))
        self._handle.write(chunk.data[:nnz].astype("<f4", copy=False))
        self._handle.write(chunk.indices[:nnz].astype(_ROW_DTYPE))
        self._offset += 8 * (self.n_genes + 1) + 6 * nnz

    def finish_writing(self) -> None:
        self._handle.close()
        self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)

    def close(self) -> None:
        self._handle.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def read(self, start: int, stop: int, buffers: "_Encoder") -> _Block:
        pointers = np.empty((len(self.records), stop - start + 1), np.int64)
        for record, row in zip(self.records, pointers, strict=True):
            _read_into(self._fd, row, record.offset + 8 * start)
        lows, highs = pointers[:, 0], pointers[:, -1]
        total = int((highs - lows).sum())
        values = buffers.values = _grown(buffers.values, total)
        rows = buffers.rows = _grown(buffers.rows, total)
        at = 0
        for record, low, high in zip(self.records, lows.tolist(), highs.tolist(), strict=True):
            if high > low:
                base = record.offset + 8 * (self.n_genes + 1)
                _read_into(self._fd, values[at : at + high - low], base + 4 * low)
                _read_into(self._fd, rows[at : at + high - low], base + 4 * record.nnz + 2 * low)
                at += high - low
        first_rows = np.array([record.first_row for record in self.records], np.int64)
        return _Block(values[:total], rows[:total], np.diff(pointers, axis=1), first_rows)


def _block_of(columns: sparse.csc_matrix) -> _Block:
    counts = np.diff(columns.indptr).astype(np.int64)
    return _Block(columns.data, columns.indices, counts[None, :], np.zeros(1, np.int64))


_TILE: Final = 1 << 16
"""Entries quantised and scattered at a time: the float64 temporaries then stay in cache."""


class _Encoder:
    """One worker's reusable buffers: a dense block of codes, spill reads and float64 work.

    Reusing them, rather than allocating per block, avoids the page faults (and the contention
    of two threads faulting at once) that fresh megabyte-sized arrays cost on every block.
    """

    def __init__(self, width: int, n_cells: int, bits: Bits | None) -> None:
        self.n_cells = n_cells
        self.bits = bits
        self.dense: NDArray[Any] = np.empty(
            (width, n_cells), np.dtype("<f4") if bits is None else CODE_DTYPE[bits]
        )
        self.values: NDArray[np.float32] = np.empty(0, np.float32)
        self.rows: NDArray[np.uint16] = np.empty(0, _ROW_DTYPE)
        self.work: NDArray[np.float64] = np.empty(_TILE, np.float64)

    def dense_block(
        self, block: _Block, low: NDArray[np.float64], high: NDArray[np.float64]
    ) -> NDArray[Any]:
        """Every cell's value (or code) of each gene of ``block``, one row per gene."""
        dense = self.dense[: block.counts.shape[1]]
        flat = dense.reshape(-1)
        if self.bits is None:
            dense.fill(0)
            for cells, values, _, _ in self._batches(block):
                flat[cells] = values
            return dense
        span = high - low
        scale = np.divide(MAX_CODE[self.bits], span, out=np.zeros_like(span), where=span > 0)
        zero = quantize_with_per_item_bounds(np.zeros(low.size), low, scale, self.bits)
        dense[:] = zero[:, None]
        for cells, values, genes, runs in self._batches(block):
            if values.size > self.work.size:
                self.work = np.empty(values.size, np.float64)
            flat[cells] = quantize_with_per_item_bounds(
                values,
                np.repeat(low[genes], runs),
                np.repeat(scale[genes], runs),
                self.bits,
                self.work,
            )
        return dense

    def _batches(
        self, block: _Block
    ) -> Iterator[
        tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.intp], NDArray[np.int64]]
    ]:
        """The entries in batches of whole runs, about _TILE entries each: each entry's place in
        the flattened dense block and its value, and each run's gene and length."""
        n_records, width = block.counts.shape
        counts = block.counts.ravel()
        genes = np.tile(np.arange(width, dtype=np.intp), n_records)
        starts = genes * self.n_cells + np.repeat(block.first_rows, width)
        offsets = np.concatenate(([0], np.cumsum(counts)))
        cuts = np.searchsorted(offsets[1:], np.arange(_TILE, offsets[-1], _TILE)) + 1
        edges = np.unique(np.concatenate(([0], cuts, [counts.size]))).tolist()
        for first, last in itertools.pairwise(edges):
            begin, end = int(offsets[first]), int(offsets[last])
            runs = counts[first:last]
            cells = np.repeat(starts[first:last], runs)
            cells += block.rows[begin:end]
            yield cells, block.values[begin:end], genes[first:last], runs


def _write_file(folder: int, name: str, data: Any) -> None:
    """Create ``name`` in the open folder ``folder``: no path lookup and no Python file object."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666, dir_fd=folder)
    try:
        view = memoryview(data).cast("B")
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class GeneWriter:
    """Writes var/{g}.values.<ext>[.gz] for every gene and returns their value ranges."""

    def __init__(
        self,
        folder: Path,
        names: list[str],
        n_cells: int,
        bits: Bits | None,
        compression: int,
        workers: int,
        memory_budget: int,
    ) -> None:
        self.folder = folder
        self.names = names
        self.n_cells = n_cells
        self.bits = bits
        self.compression = compression
        self.workers = workers
        self.memory_budget = memory_budget
        itemsize = 4 if bits is None else bits // 8
        per_gene = max(1, n_cells) * (itemsize + 8)
        self.width = int(max(1, min(len(names), memory_budget // (2 * workers * per_gene), 1024)))

    @property
    def extension(self) -> str:
        base = "f32" if self.bits is None else f"u{self.bits}"
        return base + (".gz" if self.compression else "")

    def write(self, matrix: MatrixBlocks, progress: Progress) -> GeneBounds:
        n_genes = len(self.names)
        self.folder.mkdir(parents=True, exist_ok=True)
        if _in_memory(matrix) and matrix.layout == "csr":
            matrix = _ColumnsOfMemoryCsr(cast(Any, matrix).array)
        starts = list(range(0, n_genes, self.width))
        if matrix.layout == "csc" or _in_memory(matrix):
            bounds = GeneBounds.empty(n_genes)
            self._encode_all(
                starts,
                lambda start, stop, _: self._read_columns(matrix, start, stop, bounds),
                bounds,
                progress,
            )
            return bounds
        with tempfile.TemporaryDirectory(prefix="cellucid-spill-") as scratch:
            spill = _Spill(Path(scratch) / "x.spill", n_genes)
            try:
                bounds = self._spill_rows(matrix, spill, progress)
                spill.finish_writing()
                bounds.finish(self.n_cells)
                self._encode_all(starts, spill.read, bounds, progress)
            finally:
                spill.close()
        return bounds

    def _read_columns(
        self, matrix: MatrixBlocks, start: int, stop: int, bounds: GeneBounds
    ) -> _Block:
        block = to_csc(matrix.columns(start, stop), f"genes {start}-{stop}")
        block_bounds = GeneBounds.of(block)
        block_bounds.finish(self.n_cells)
        bounds.minimum[start:stop] = block_bounds.minimum
        bounds.maximum[start:stop] = block_bounds.maximum
        bounds.stored[start:stop] = block_bounds.stored
        return _block_of(block)

    def _chunk_rows(self) -> tuple[int, int]:
        """Rows of X per read and per spill record.

        Reads are as large as the memory budget allows: fewer, larger reads through anndata
        cost less, and make fewer short-lived allocations for the allocator to hand back to the
        system and fault in again. Each read is converted to CSC in records of ~4 M cells of X
        (2,000 rows at 2,000 genes), whose output fits in cache: ~2.5x faster than converting
        8,000 rows at once. A record has at most 65,536 rows, so a row fits the spill's 2 bytes.
        """
        n_genes = max(1, len(self.names))
        per_read = max(256, min(self.n_cells, self.memory_budget // (16 * n_genes)))
        per_record = max(256, min(per_read, 1 << 16, _CELLS_PER_RECORD // n_genes))
        return per_read, per_record

    def _spill_rows(self, matrix: MatrixBlocks, spill: _Spill, progress: Progress) -> GeneBounds:
        """Read X once in row chunks, converting chunks to CSC on all cores, spilling in order."""
        bounds = GeneBounds.empty(len(self.names))
        per_read, per_record = self._chunk_rows()

        def convert(first: int) -> tuple[int, list[tuple[int, sparse.csc_matrix, GeneBounds]]]:
            last = min(first + per_read, self.n_cells)
            chunk = _checked(matrix.rows(first, last), f"cells {first}-{last}")
            records = []
            for start in range(first, last, per_record):
                stop = min(start + per_record, last)
                part = _row_range(chunk, start - first, stop - first)
                columns = _finite_csc(part, f"cells {start}-{stop}")
                records.append((start, columns, GeneBounds.of(columns)))
            return last - first, records

        with ThreadPoolExecutor(self.workers) as pool:
            firsts = range(0, self.n_cells, per_read)
            for n_rows, records in _in_order(pool, convert, firsts, self.workers):
                for first, columns, record_bounds in records:
                    bounds.fold(record_bounds)
                    spill.add(first, columns)
                progress("reading X", n_rows, self.n_cells)
        return bounds

    def _encode_all(
        self,
        starts: list[int],
        read: Callable[[int, int, _Encoder], _Block],
        bounds: GeneBounds,
        progress: Progress,
    ) -> None:
        n_genes = len(self.names)
        encoders: queue.SimpleQueue[_Encoder] = queue.SimpleQueue()
        for _ in range(min(self.workers, len(starts))):
            encoders.put(_Encoder(self.width, self.n_cells, self.bits))
        folder = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

        def run(start: int) -> int:
            stop = min(start + self.width, n_genes)
            encoder = encoders.get()
            try:
                dense = encoder.dense_block(
                    read(start, stop, encoder),
                    bounds.minimum[start:stop],
                    bounds.maximum[start:stop],
                )
                for offset, column in enumerate(dense):
                    data = memoryview(column)
                    payload = gzip_column(data, self.compression) if self.compression else data
                    _write_file(folder, f"{start + offset}.values.{self.extension}", payload)
            finally:
                encoders.put(encoder)
            return stop - start

        try:
            with ThreadPoolExecutor(self.workers) as pool:
                for done in pool.map(run, starts):
                    progress("writing genes", done, n_genes)
        finally:
            os.close(folder)


def _in_order[T, R](
    pool: ThreadPoolExecutor, work: Callable[[T], R], items: Iterable[T], ahead: int
) -> Iterator[R]:
    """``pool.map`` with at most ``ahead`` results waiting, so chunks never pile up in memory."""
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(work, item))
        if len(pending) > ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _in_memory(matrix: MatrixBlocks) -> bool:
    array = getattr(matrix, "array", None)
    return isinstance(array, np.ndarray) or sparse.issparse(array)


class _ColumnsOfMemoryCsr:
    """An in-memory CSR X converted to CSC once, instead of slicing columns of CSR per block."""

    layout: Layout = "csc"

    def __init__(self, matrix: Any) -> None:
        _check_chunk(matrix, "X")
        self.array = sparse.csc_matrix(matrix)
        self.shape = (int(matrix.shape[0]), int(matrix.shape[1]))

    def rows(self, start: int, stop: int) -> Any:
        return self.array[start:stop]

    def columns(self, start: int, stop: int) -> Any:
        return self.array[:, start:stop]
