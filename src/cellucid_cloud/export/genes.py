"""One file per gene from a matrix that never has to fit in memory.

The export wants columns (one dense vector of all cells per gene) while an .h5ad usually stores
rows (CSR) or dense row-major X. Reading X once in row chunks, each chunk's entries are appended
to a spill file per block of genes; then each block of genes is assembled, checked, quantised and
compressed, blocks in parallel. CSC or in-memory matrices skip the spill and are read a block of
columns at a time. Peak memory is a few blocks and chunks, whatever the size of X.
"""

import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse

from .errors import PrepareError
from .gzip_codec import gzip_column
from .quantize import MAX_CODE, Bits, quantize_with_per_item_bounds
from .source import Layout, MatrixBlocks

Progress = Callable[[str, int, int], None]
"""Called with (stage, units just done, units in the stage)."""


@dataclass(frozen=True)
class GeneNames:
    """Unique gene names and how they were obtained, for the var manifest's name sets."""

    names: list[str]
    source: str | None
    filled_from_index: int
    renamed: list[list[str]]


def gene_names(var: pd.DataFrame, column: str | None, warnings: list[str]) -> GeneNames:
    """Names from the var index or a var column, empty ones filled, duplicates made unique."""
    import anndata as ad

    index = [str(name) for name in var.index]
    if column is None:
        raw: list[str] = index
        filled = 0
    else:
        if column not in var.columns:
            raise PrepareError(f"var has no column {column!r} (columns: {list(var.columns)})")
        values = var[column].astype("object").tolist()
        empty = [v is None or bool(pd.isna(v)) or str(v) == "" for v in values]
        raw = [
            index[i] if is_empty else str(v)
            for i, (v, is_empty) in enumerate(zip(values, empty, strict=True))
        ]
        filled = sum(empty)
    unique = [str(n) for n in ad.utils.make_index_unique(pd.Index(raw), join="-")]
    renamed = [[a, b] for a, b in zip(raw, unique, strict=True) if a != b]
    if renamed:
        where = "var index" if column is None else f"var column {column!r}"
        warnings.append(
            f"{len(renamed)} duplicate gene names in the {where} were made unique "
            f"(e.g. {renamed[0][0]!r} -> {renamed[0][1]!r})"
        )
    return GeneNames(unique, column, filled, renamed)


@dataclass
class GeneBounds:
    """Per-gene range and stored-entry count of the exported float32 values."""

    minimum: NDArray[np.float64]
    maximum: NDArray[np.float64]
    stored: NDArray[np.int64]

    @classmethod
    def empty(cls, n_genes: int) -> "GeneBounds":
        return cls(np.full(n_genes, np.inf), np.full(n_genes, -np.inf), np.zeros(n_genes, np.int64))

    def add(self, columns: sparse.csc_matrix, first_gene: int = 0) -> None:
        """Fold in the stored values of ``columns`` (genes first_gene onwards)."""
        counts = np.diff(columns.indptr)
        present = np.nonzero(counts)[0]
        genes = present + first_gene
        self.stored[first_gene : first_gene + counts.size] += counts
        if present.size:
            starts = columns.indptr[:-1][present]
            data = columns.data
            self.minimum[genes] = np.minimum(self.minimum[genes], np.minimum.reduceat(data, starts))
            self.maximum[genes] = np.maximum(self.maximum[genes], np.maximum.reduceat(data, starts))

    def finish(self, n_cells: int) -> None:
        """Count the implicit zeros of genes that do not store a value for every cell."""
        sparse_genes = self.stored < n_cells
        self.minimum[sparse_genes] = np.minimum(self.minimum[sparse_genes], 0.0)
        self.maximum[sparse_genes] = np.maximum(self.maximum[sparse_genes], 0.0)
        self.minimum[~np.isfinite(self.minimum)] = 0.0
        self.maximum[~np.isfinite(self.maximum)] = 0.0


@dataclass(frozen=True)
class _Entries:
    """The stored entries of a block of genes, as (gene within block, cell, value) triples."""

    genes: NDArray[np.intp]
    cells: NDArray[np.intp]
    values: NDArray[np.float32]


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
    matrix: Any = block
    fmt = getattr(matrix, "format", None)
    if fmt is not None:
        if fmt not in ("csr", "csc"):
            matrix = matrix.tocsr()
        _check_chunk(matrix, what)
        result = sparse.csc_matrix(matrix).astype(np.float32, copy=False)
    else:
        result = sparse.csc_matrix(np.asarray(matrix, dtype=np.float32))
    if not np.isfinite(result.data).all():
        raise PrepareError(f"X has NaN or infinite values ({what})")
    return result


@dataclass(frozen=True)
class _Record:
    first_row: int
    nnz: int
    offset: int


class _Spill:
    """Row chunks of X, each stored once as CSC, from which any block of genes can be read back.

    One file holds every chunk (indptr, then values, then cell indices), so the number of files
    does not grow with genes x chunks; a block is read back with a few positioned reads per chunk.
    """

    def __init__(self, path: Path, n_genes: int) -> None:
        self.path = path
        self.n_genes = n_genes
        self.records: list[_Record] = []
        self._handle = path.open("wb")
        self._offset = 0

    def add(self, first_row: int, chunk: sparse.csc_matrix) -> None:
        nnz = int(chunk.indptr[-1])
        self.records.append(_Record(first_row, nnz, self._offset))
        for array in (
            chunk.indptr.astype("<i8", copy=False),
            chunk.data[:nnz].astype("<f4", copy=False),
            chunk.indices[:nnz].astype("<u4", copy=False),
        ):
            self._handle.write(array.tobytes())
        self._offset += 8 * (self.n_genes + 1) + 8 * nnz

    def close(self) -> None:
        self._handle.close()

    def read(self, start: int, stop: int) -> _Entries:
        genes, cells, values = [], [], []
        with self.path.open("rb") as handle:
            fd = handle.fileno()
            for record in self.records:
                pointers = np.frombuffer(
                    os.pread(fd, 8 * (stop - start + 1), record.offset + 8 * start), "<i8"
                )
                lo, hi = int(pointers[0]), int(pointers[-1])
                if hi == lo:
                    continue
                base = record.offset + 8 * (self.n_genes + 1)
                values.append(np.frombuffer(os.pread(fd, 4 * (hi - lo), base + 4 * lo), "<f4"))
                rows = os.pread(fd, 4 * (hi - lo), base + 4 * record.nnz + 4 * lo)
                cells.append(np.frombuffer(rows, "<u4").astype(np.intp) + record.first_row)
                genes.append(np.repeat(np.arange(stop - start, dtype=np.intp), np.diff(pointers)))
        if not values:
            empty = np.zeros(0, dtype=np.intp)
            return _Entries(empty, empty, np.zeros(0, dtype=np.float32))
        return _Entries(np.concatenate(genes), np.concatenate(cells), np.concatenate(values))


def _entries_of(block: sparse.csc_matrix) -> _Entries:
    counts = np.diff(block.indptr)
    genes = np.repeat(np.arange(block.shape[1], dtype=np.intp), counts)
    return _Entries(genes, block.indices.astype(np.intp), block.data)


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
                lambda start, stop: self._read_columns(matrix, start, stop, bounds),
                bounds,
                progress,
            )
            return bounds
        with tempfile.TemporaryDirectory(prefix="cellucid-spill-") as scratch:
            spill = _Spill(Path(scratch) / "x.spill", n_genes)
            try:
                bounds = self._spill_rows(matrix, spill, progress)
            finally:
                spill.close()
            bounds.finish(self.n_cells)
            self._encode_all(starts, spill.read, bounds, progress)
        return bounds

    def _read_columns(
        self, matrix: MatrixBlocks, start: int, stop: int, bounds: GeneBounds
    ) -> _Entries:
        block = to_csc(matrix.columns(start, stop), f"genes {start}-{stop}")
        block_bounds = GeneBounds.empty(stop - start)
        block_bounds.add(block)
        block_bounds.finish(self.n_cells)
        bounds.minimum[start:stop] = block_bounds.minimum
        bounds.maximum[start:stop] = block_bounds.maximum
        bounds.stored[start:stop] = block_bounds.stored
        return _entries_of(block)

    def _spill_rows(self, matrix: MatrixBlocks, spill: _Spill, progress: Progress) -> GeneBounds:
        """Read X once in row chunks, converting chunks to CSC on all cores, spilling in order."""
        bounds = GeneBounds.empty(len(self.names))
        rows_per_chunk = int(
            max(256, min(self.n_cells, self.memory_budget // (16 * max(1, len(self.names)))))
        )

        def convert(first: int) -> tuple[int, int, sparse.csc_matrix]:
            last = min(first + rows_per_chunk, self.n_cells)
            return first, last, to_csc(matrix.rows(first, last), f"cells {first}-{last}")

        with ThreadPoolExecutor(self.workers) as pool:
            for first, last, chunk in pool.map(convert, range(0, self.n_cells, rows_per_chunk)):
                bounds.add(chunk)
                spill.add(first, chunk)
                progress("reading X", last - first, self.n_cells)
        return bounds

    def _encode_all(
        self,
        starts: list[int],
        read: Callable[[int, int], _Entries],
        bounds: GeneBounds,
        progress: Progress,
    ) -> None:
        n_genes = len(self.names)

        def run(start: int) -> int:
            stop = min(start + self.width, n_genes)
            entries = read(start, stop)
            self._encode_block(start, stop, entries, bounds)
            return stop - start

        with ThreadPoolExecutor(self.workers) as pool:
            for done in pool.map(run, starts):
                progress("writing genes", done, n_genes)

    def _encode_block(self, start: int, stop: int, entries: _Entries, bounds: GeneBounds) -> None:
        dense = self._dense_block(
            stop - start, entries, bounds.minimum[start:stop], bounds.maximum[start:stop]
        )
        for offset in range(stop - start):
            payload = dense[offset].tobytes()
            if self.compression:
                payload = gzip_column(payload, self.compression)
            (self.folder / f"{start + offset}.values.{self.extension}").write_bytes(payload)

    def _dense_block(
        self,
        width: int,
        entries: _Entries,
        low: NDArray[np.float64],
        high: NDArray[np.float64],
    ) -> NDArray[Any]:
        flat = entries.genes * self.n_cells + entries.cells
        if self.bits is None:
            dense32 = np.zeros((width, self.n_cells), dtype="<f4")
            dense32.reshape(-1)[flat] = entries.values
            return dense32
        span = high - low
        scale = np.divide(MAX_CODE[self.bits], span, out=np.zeros_like(span), where=span > 0)
        zero_code = quantize_with_per_item_bounds(
            np.zeros(width, dtype=np.float32), low, scale, self.bits
        )
        dense = np.empty((width, self.n_cells), dtype=zero_code.dtype)
        dense[:] = zero_code[:, None]
        dense.reshape(-1)[flat] = quantize_with_per_item_bounds(
            entries.values, low[entries.genes], scale[entries.genes], self.bits
        )
        return dense


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
