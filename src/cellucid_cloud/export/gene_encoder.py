"""Gene columns from stored entries: every cell's value (or code) of a block of genes.

The encoder works on :class:`Entries`, the stored values of a block of genes over some rows of X,
in runs of one gene each; it fills a dense block with each gene's code for zero and scatters the
entries' codes into it, entries from several row blocks one after the other. Codes are computed
element by element from the gene's bounds over all cells, so how X was cut into blocks never
changes a byte of the output.
"""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from .format import GENE_VALUES, Encoding
from .quantize import MAX_CODE, Bits, quantize_with_per_item_bounds

TILE: Final = 1 << 16
"""Entries quantised and scattered at a time: the float64 temporaries then stay in cache."""


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
class Entries:
    """The stored entries of a block of genes, one run per record (a few rows of X) and gene.

    Entries are ordered record by record and, within a record, gene by gene; ``rows`` count from
    the record's first row. A block of CSC columns is one record starting at row 0.
    """

    values: NDArray[np.float32]
    rows: NDArray[np.integer]
    counts: NDArray[np.integer]
    """Entries per record and gene: shape (records, genes)."""
    first_rows: NDArray[np.int64]

    @classmethod
    def of_columns(cls, columns: sparse.csc_matrix) -> "Entries":
        counts = np.diff(columns.indptr).astype(np.int64)
        return cls(columns.data, columns.indices, counts[None, :], np.zeros(1, np.int64))


class GeneEncoder:
    """One worker's reusable buffers: a dense block of codes and the float64 work of a batch.

    Reusing them, rather than allocating per block, avoids the page faults (and the contention
    of two threads faulting at once) that fresh megabyte-sized arrays cost on every block.
    """

    def __init__(self, width: int, n_cells: int, bits: Bits | None) -> None:
        self.n_cells = n_cells
        self.bits = bits
        self.encoding: Encoding = GENE_VALUES.for_quantization(bits or 0)
        self.dense: NDArray[Any] = np.empty((width, n_cells), self.encoding.array_dtype)
        self.work: NDArray[np.float64] = np.empty(TILE, np.float64)
        self._block: NDArray[Any] = self.dense[:0]
        self._low: NDArray[np.float64] = np.zeros(0)
        self._scale: NDArray[np.float64] = np.zeros(0)

    def begin(self, low: NDArray[np.float64], high: NDArray[np.float64]) -> NDArray[Any]:
        """Start a block of ``low.size`` genes with these bounds over all cells: every cell holds
        the code of zero until :meth:`add` scatters the stored entries. Returns the block, one
        row per gene."""
        self._block = self.dense[: low.size]
        if self.bits is None:
            self._block.fill(0)
            return self._block
        span = high - low
        self._low = low
        self._scale = np.divide(MAX_CODE[self.bits], span, out=np.zeros_like(span), where=span > 0)
        zero = quantize_with_per_item_bounds(np.zeros(low.size), low, self._scale, self.bits)
        self._block[:] = zero[:, None]
        return self._block

    def add(self, entries: Entries) -> None:
        """Scatter ``entries`` (of this block's genes, any rows) into the block."""
        flat = self._block.reshape(-1)
        for cells, values, genes, runs in self._batches(entries):
            if self.bits is None:
                flat[cells] = values
                continue
            if values.size > self.work.size:
                self.work = np.empty(values.size, np.float64)
            flat[cells] = quantize_with_per_item_bounds(
                values,
                np.repeat(self._low[genes], runs),
                np.repeat(self._scale[genes], runs),
                self.bits,
                self.work,
            )

    def _batches(
        self, entries: Entries
    ) -> Iterator[
        tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.intp], NDArray[np.int64]]
    ]:
        """The entries in batches of whole runs, about TILE entries each: each entry's place in
        the flattened dense block and its value, and each run's gene and length."""
        n_records, width = entries.counts.shape
        counts = entries.counts.ravel().astype(np.int64, copy=False)
        genes = np.tile(np.arange(width, dtype=np.intp), n_records)
        starts = genes * self.n_cells + np.repeat(entries.first_rows, width)
        offsets = np.concatenate(([0], np.cumsum(counts)))
        cuts = np.searchsorted(offsets[1:], np.arange(TILE, offsets[-1], TILE)) + 1
        edges = np.unique(np.concatenate(([0], cuts, [counts.size]))).tolist()
        for first, last in itertools.pairwise(edges):
            begin, end = int(offsets[first]), int(offsets[last])
            runs = counts[first:last]
            cells = np.repeat(starts[first:last], runs)
            cells += entries.rows[begin:end]
            yield cells, entries.values[begin:end], genes[first:last], runs
