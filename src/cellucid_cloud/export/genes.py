"""One file per gene from a matrix that never has to fit in memory.

The export wants columns (one dense vector of all cells per gene) while an .h5ad usually stores
rows (CSR) or dense row-major X. Reading X once in row chunks, each chunk's entries are appended
to a spill file per block of genes; then each block of genes is assembled, checked, quantised and
compressed, blocks in parallel. CSC or in-memory matrices skip the spill and are read a block of
columns at a time. Peak memory is a few blocks and chunks, whatever the size of X.
"""

import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse

from .errors import PrepareError
from .gzip_codec import gzip_column
from .quantize import MAX_CODE, Bits, quantize_with_per_item_bounds
from .source import MatrixBlocks

Progress = Callable[[str, int, int], None]
"""Called with (stage, units just done, units in the stage)."""
_HEADER: Final = np.dtype([("start", "<u8"), ("entries", "<u8")])


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
        empty = [v is None or (isinstance(v, float) and v != v) or str(v) == "" for v in values]
        raw = [index[i] if is_empty else str(v) for i, (v, is_empty) in enumerate(zip(values, empty, strict=True))]
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


@dataclass(frozen=True)
class GeneBounds:
    """Per-gene value range of the exported float32 values (for the var manifest)."""

    minimum: NDArray[np.float64]
    maximum: NDArray[np.float64]


@dataclass(frozen=True)
class _Entries:
    """The stored entries of a block of genes, as (gene within block, cell, value) triples."""

    genes: NDArray[np.intp]
    cells: NDArray[np.intp]
    values: NDArray[np.float32]


def _check_chunk(chunk: sparse.csr_matrix | sparse.csc_matrix, what: str) -> None:
    """Refuse structurally broken sparse data before scipy trusts it."""
    indptr, indices = chunk.indptr, chunk.indices
    if indptr.size and (np.any(np.diff(indptr) < 0) or indptr[-1] > indices.size):
        raise PrepareError(f"X is corrupt: its indptr decreases or overruns the data ({what})")
    limit = chunk.shape[0] if isinstance(chunk, sparse.csc_matrix) else chunk.shape[1]
    if indices.size and (indices.min() < 0 or indices.max() >= limit):
        raise PrepareError(f"X is corrupt: an index is outside the matrix ({what})")


def _as_csc(block: Any, what: str) -> sparse.csc_matrix:
    if sparse.issparse(block):
        matrix = block if block.format in ("csr", "csc") else block.tocsr()
        _check_chunk(matrix, what)
        return sparse.csc_matrix(matrix)
    return sparse.csc_matrix(np.asarray(block))


class _Spill:
    """Row chunks of X appended per block of genes, so each block can be read back whole."""

    def __init__(self, folder: Path, n_genes: int, width: int) -> None:
        self.folder = folder
        self.n_genes = n_genes
        self.width = width

    def path(self, block: int) -> Path:
        return self.folder / f"{block}.spill"

    def add(self, first_row: int, chunk: sparse.csc_matrix) -> None:
        indptr = chunk.indptr
        for block, start in enumerate(range(0, self.n_genes, self.width)):
            stop = min(start + self.width, self.n_genes)
            lo, hi = int(indptr[start]), int(indptr[stop])
            counts = np.diff(indptr[start : stop + 1]).astype("<u4")
            header = np.array([(first_row, hi - lo)], dtype=_HEADER)
            with self.path(block).open("ab") as handle:
                handle.write(header.tobytes())
                handle.write(counts.tobytes())
                handle.write(chunk.data[lo:hi].astype("<f4", copy=False).tobytes())
                handle.write(chunk.indices[lo:hi].astype("<u4", copy=False).tobytes())

    def read(self, block: int, width: int) -> _Entries:
        raw = self.path(block).read_bytes() if self.path(block).exists() else b""
        genes, cells, values = [], [], []
        offset = 0
        while offset < len(raw):
            header = np.frombuffer(raw, _HEADER, 1, offset)[0]
            offset += _HEADER.itemsize
            counts = np.frombuffer(raw, "<u4", width, offset)
            offset += 4 * width
            n = int(header["entries"])
            values.append(np.frombuffer(raw, "<f4", n, offset))
            offset += 4 * n
            cells.append(np.frombuffer(raw, "<u4", n, offset).astype(np.intp) + int(header["start"]))
            offset += 4 * n
            genes.append(np.repeat(np.arange(width, dtype=np.intp), counts))
        if not values:
            empty = np.zeros(0, dtype=np.intp)
            return _Entries(empty, empty, np.zeros(0, dtype=np.float32))
        return _Entries(np.concatenate(genes), np.concatenate(cells), np.concatenate(values))


def _entries_of(block: sparse.csc_matrix) -> _Entries:
    counts = np.diff(block.indptr)
    genes = np.repeat(np.arange(block.shape[1], dtype=np.intp), counts)
    return _Entries(genes, block.indices.astype(np.intp), block.data.astype(np.float32))


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
        minimum = np.zeros(n_genes)
        maximum = np.zeros(n_genes)
        self.folder.mkdir(parents=True, exist_ok=True)
        starts = list(range(0, n_genes, self.width))
        if _in_memory(matrix) and matrix.layout == "csr":
            matrix = _ColumnsOfMemoryCsr(getattr(matrix, "array"))
        if matrix.layout == "csc" or _in_memory(matrix):
            blocks: Iterator[tuple[int, Callable[[], _Entries]]] = (
                (start, self._column_reader(matrix, start)) for start in starts
            )
            self._encode_all(blocks, minimum, maximum, progress)
        else:
            with tempfile.TemporaryDirectory(prefix="cellucid-spill-") as scratch:
                spill = _Spill(Path(scratch), n_genes, self.width)
                self._spill_rows(matrix, spill, progress)
                blocks = (
                    (start, self._spill_reader(spill, i, start)) for i, start in enumerate(starts)
                )
                self._encode_all(blocks, minimum, maximum, progress)
        return GeneBounds(minimum, maximum)

    def _column_reader(self, matrix: MatrixBlocks, start: int) -> Callable[[], _Entries]:
        stop = min(start + self.width, len(self.names))
        return lambda: _entries_of(_as_csc(matrix.columns(start, stop), f"genes {start}-{stop}"))

    def _spill_reader(self, spill: _Spill, block: int, start: int) -> Callable[[], _Entries]:
        width = min(self.width, len(self.names) - start)
        return lambda: spill.read(block, width)

    def _spill_rows(self, matrix: MatrixBlocks, spill: _Spill, progress: Progress) -> None:
        rows_per_chunk = int(
            max(256, min(self.n_cells, self.memory_budget // (16 * max(1, len(self.names)))))
        )
        for first in range(0, self.n_cells, rows_per_chunk):
            last = min(first + rows_per_chunk, self.n_cells)
            spill.add(first, _as_csc(matrix.rows(first, last), f"cells {first}-{last}"))
            progress("reading X", last - first, self.n_cells)

    def _encode_all(
        self,
        blocks: Iterator[tuple[int, Callable[[], _Entries]]],
        minimum: NDArray[np.float64],
        maximum: NDArray[np.float64],
        progress: Progress,
    ) -> None:
        def run(item: tuple[int, Callable[[], _Entries]]) -> int:
            start, read = item
            low, high = self._encode_block(start, read())
            minimum[start : start + low.size] = low
            maximum[start : start + high.size] = high
            return int(low.size)

        with ThreadPoolExecutor(self.workers) as pool:
            for done in pool.map(run, blocks):
                progress("writing genes", done, len(self.names))

    def _encode_block(
        self, start: int, entries: _Entries
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        width = min(self.width, len(self.names) - start)
        values = entries.values
        if not np.isfinite(values).all():
            bad = int(entries.genes[~np.isfinite(values)][0]) + start
            raise PrepareError(f"X has NaN or infinite values for gene {self.names[bad]!r}")
        stored = np.bincount(entries.genes, minlength=width)
        low = np.full(width, np.inf)
        high = np.full(width, -np.inf)
        np.minimum.at(low, entries.genes, values)
        np.maximum.at(high, entries.genes, values)
        has_zero = stored < self.n_cells
        low[has_zero] = np.minimum(low[has_zero], 0.0)
        high[has_zero] = np.maximum(high[has_zero], 0.0)
        if self.n_cells == 0:
            low[:] = high[:] = 0.0
        dense = self._dense_block(width, entries, low, high)
        for offset in range(width):
            payload = dense[offset].tobytes()
            if self.compression:
                payload = gzip_column(payload, self.compression)
            (self.folder / f"{start + offset}.values.{self.extension}").write_bytes(payload)
        return low, high

    def _dense_block(
        self,
        width: int,
        entries: _Entries,
        low: NDArray[np.float64],
        high: NDArray[np.float64],
    ) -> NDArray[Any]:
        if self.bits is None:
            dense32 = np.zeros((width, self.n_cells), dtype="<f4")
            dense32[entries.genes, entries.cells] = entries.values
            return dense32
        span = high - low
        scale = np.divide(
            MAX_CODE[self.bits], span, out=np.zeros_like(span), where=span > 0
        )
        zero_code = quantize_with_per_item_bounds(
            np.zeros(width, dtype=np.float32), low, scale, self.bits
        )
        dense = np.empty((width, self.n_cells), dtype=zero_code.dtype)
        dense[:] = zero_code[:, None]
        dense[entries.genes, entries.cells] = quantize_with_per_item_bounds(
            entries.values, low[entries.genes], scale[entries.genes], self.bits
        )
        return dense


def _in_memory(matrix: MatrixBlocks) -> bool:
    array = getattr(matrix, "array", None)
    return isinstance(array, np.ndarray) or sparse.issparse(array)


class _ColumnsOfMemoryCsr:
    """An in-memory CSR X converted to CSC once, instead of slicing columns of CSR per block."""

    layout = "csc"

    def __init__(self, matrix: Any) -> None:
        _check_chunk(matrix, "X")
        self.array = sparse.csc_matrix(matrix)
        self.shape = (int(matrix.shape[0]), int(matrix.shape[1]))

    def rows(self, start: int, stop: int) -> Any:
        return self.array[start:stop]

    def columns(self, start: int, stop: int) -> Any:
        return self.array[:, start:stop]
