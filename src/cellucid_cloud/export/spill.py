"""The spill format: one shard per row block of X, its entries re-cut by block of genes.

X is usually stored by rows (CSR, dense) and the export wants genes, so each row block is read
once, converted to CSC in records of a few rows (whose conversion fits in cache) and written as
one shard. A shard is ordered by gene block: a block of genes reads one contiguous range of
every shard, which is one positioned read on a disk and one ranged GET on S3.

Layout of a shard (little-endian)::

    magic "CCSPILL\\x01" | n_sections u64 | offsets u64[n_sections + 1]   (the header)
    section per gene block, at offsets[k], for its w genes over the row block's r records:
        minimum f64[w] | maximum f64[w]      stored values' bounds (inf / -inf: none stored)
        counts i32[r, w]                     entries per record and gene
        values f32[n]                        record by record, gene by gene
        rows u16[n]                          row within the record (a record has <= 65,536 rows)
        padding to 8 bytes

A shard holds only what the row block read; which rows a record starts at follows from the
plan (:mod:`.blocks`), which is why the format needs no more.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from .errors import PrepareError
from .gene_encoder import Entries, GeneBounds

MAGIC: Final = b"CCSPILL\x01"
RECORD_ROWS_MAX: Final = 1 << 16
"""Rows of a record: its rows fit the spill's two bytes."""
ROW_DTYPE: Final = np.dtype("<u2")
_OFFSET: Final = np.dtype("<u8")


def header_size(n_sections: int) -> int:
    return len(MAGIC) + 8 + 8 * (n_sections + 1)


def _padding(size: int) -> int:
    return -size % 8


def shard_parts(
    records: Sequence[sparse.csc_matrix], gene_edges: Sequence[int]
) -> tuple[list[memoryview], list[int]]:
    """The bytes of one row block's shard, as buffers to write in order, and where each section
    starts (then where the shard ends).

    ``records`` are the row block's records as float32 CSC with every gene; ``gene_edges`` are
    the first gene of each gene block and, last, the number of genes. Values are not copied."""
    edges = np.asarray(gene_edges, np.int64)
    n_genes = int(edges[-1])
    bounds = GeneBounds.empty(n_genes)
    pointers = np.empty((len(records), n_genes + 1), np.int64)
    rows = []
    for record, row in zip(records, pointers, strict=True):
        if record.shape[0] > RECORD_ROWS_MAX:
            raise ValueError(f"a spill record has {record.shape[0]} rows, at most 65,536")
        bounds.fold(GeneBounds.of(record))
        row[:] = record.indptr
        rows.append(record.indices.astype(ROW_DTYPE))
    widths = np.diff(edges)
    entries = (pointers[:, edges[1:]] - pointers[:, edges[:-1]]).sum(axis=0)
    sizes = 16 * widths + 4 * len(records) * widths + 6 * entries
    sizes += -sizes % 8
    offsets = header_size(len(widths)) + np.concatenate(([0], np.cumsum(sizes)))
    parts: list[Any] = [MAGIC, np.array([len(widths)], _OFFSET), offsets.astype(_OFFSET)]
    for first, last in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        parts += [
            bounds.minimum[first:last].astype("<f8"),
            bounds.maximum[first:last].astype("<f8"),
        ]
        parts.append(np.diff(pointers[:, first : last + 1], axis=1).astype("<i4"))
        spans = [(int(row[first]), int(row[last])) for row in pointers]
        parts += [r.data[lo:hi] for r, (lo, hi) in zip(records, spans, strict=True) if hi > lo]
        parts += [r[lo:hi] for r, (lo, hi) in zip(rows, spans, strict=True) if hi > lo]
        count = sum(hi - lo for lo, hi in spans)
        if pad := _padding(4 * len(records) * (last - first) + 6 * count):
            parts.append(bytes(pad))
    return [memoryview(part).cast("B") for part in parts], offsets.tolist()


def shard_offsets(header: bytes | memoryview, n_sections: int, what: str) -> NDArray[np.int64]:
    """Where each section of a shard starts (and, last, where the shard ends)."""
    if len(header) < header_size(n_sections) or bytes(header[: len(MAGIC)]) != MAGIC:
        raise PrepareError(f"spill shard {what} is not a spill shard")
    values = np.frombuffer(header, _OFFSET, n_sections + 2, len(MAGIC)).astype(np.int64)
    if values[0] != n_sections or np.any(np.diff(values[1:]) < 0):
        raise PrepareError(f"spill shard {what} has another plan's layout")
    return values[1:]


@dataclass(frozen=True)
class Section:
    """One gene block's part of one shard: bounds over the row block, and its entries."""

    minimum: NDArray[np.float64]
    maximum: NDArray[np.float64]
    entries: Entries


def read_section(data: Any, width: int, first_rows: NDArray[np.int64], what: str) -> Section:
    """Parse a section (``data``: its bytes) of a block of ``width`` genes over records that
    start at ``first_rows``; the arrays are views of ``data``."""
    n_records = first_rows.size
    buffer = memoryview(data).cast("B")
    head = 16 * width + 4 * n_records * width
    if len(buffer) < head:
        raise PrepareError(f"spill section {what} is truncated")
    minimum = np.frombuffer(buffer, "<f8", width, 0)
    maximum = np.frombuffer(buffer, "<f8", width, 8 * width)
    counts = np.frombuffer(buffer, "<i4", n_records * width, 16 * width).reshape(n_records, width)
    total = int(counts.sum(dtype=np.int64))
    if len(buffer) < head + 6 * total:
        raise PrepareError(f"spill section {what} is truncated")
    values = np.frombuffer(buffer, "<f4", total, head)
    rows = np.frombuffer(buffer, ROW_DTYPE, total, head + 4 * total)
    return Section(minimum, maximum, Entries(values, rows, counts, first_rows))
