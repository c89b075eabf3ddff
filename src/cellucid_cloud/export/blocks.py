"""How the gene files are cut into independent blocks of work, and the two kinds of block.

X is stored by cells and the export writes genes, so the work is a transposition in two steps
that each run anywhere (threads, processes, Lambda functions):

* a **row block** reads a contiguous range of cells (a contiguous range of bytes of a CSR X),
  converts it to CSC in records of a few rows and writes one spill shard (:mod:`.spill`);
* a **gene block** reads its section of every shard, folds the sections' bounds into each
  gene's range over all cells, and quantises, compresses and writes its genes' files.

A CSC X skips the first step: a gene block reads its columns straight from X. Each gene's file
depends only on its values and its range over all cells, so the output is the same bytes for
every way of cutting X into blocks.
"""

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from .format import GENE_VALUES
from .gene_encoder import Entries, GeneBounds, GeneEncoder
from .gzip_codec import gzip_member
from .matrix import MatrixBlocks
from .matrix_checks import checked, finite_csc, row_range, to_csc
from .quantize import Bits
from .spill import RECORD_ROWS_MAX, Section, read_section, shard_parts

CELLS_PER_RECORD: Final = 1 << 22
"""Cells of X (rows x genes) per spill record: converting ~4 M cells of X to CSC at a time keeps
the output in cache (2,000 rows at 2,000 genes; ~2.5x faster than 8,000 rows at once)."""
ROW_BLOCK_BYTES_PER_ENTRY: Final = 24
"""Memory a row block holds per stored entry: the CSR read (8 B), its CSC records (8 B), the
spill's copy of the rows (2 B) and slack."""
GENE_BLOCK_MAX: Final = 1024
"""Genes per block at most: past this, blocks only cost memory."""
ENTRY_BYTES: Final = 6
"""A spilled entry: a float32 value and a 2-byte row."""

GeneFiles = Callable[[str, Any], None]
"""Where a gene block's files go: ``(path in the export, bytes)``."""


class BlockPlan(BaseModel):
    """The blocks of one export: row blocks (none when X is CSC) and gene blocks."""

    model_config = ConfigDict(frozen=True)

    n_cells: int
    n_genes: int
    layout: Literal["csr", "csc", "dense"]
    row_edges: tuple[int, ...]
    """First cell of each row block, then ``n_cells``; just ``(0,)`` when X is CSC."""
    record_rows: int
    gene_edges: tuple[int, ...]
    """First gene of each gene block, then ``n_genes``."""

    @property
    def n_row_blocks(self) -> int:
        return len(self.row_edges) - 1

    @property
    def n_gene_blocks(self) -> int:
        return len(self.gene_edges) - 1

    def rows(self, index: int) -> tuple[int, int]:
        return self.row_edges[index], self.row_edges[index + 1]

    def genes(self, index: int) -> tuple[int, int]:
        return self.gene_edges[index], self.gene_edges[index + 1]

    def record_starts(self, index: int) -> NDArray[np.int64]:
        """The first cell of each spill record of row block ``index``."""
        start, stop = self.rows(index)
        return np.arange(start, stop, self.record_rows, dtype=np.int64)


def plan_blocks(
    shape: tuple[int, int],
    layout: Literal["csr", "csc", "dense"],
    *,
    bits: Bits | None,
    memory_per_worker: int,
    row_entries: NDArray[np.integer] | None = None,
    block_rows: int | None = None,
    block_genes: int | None = None,
    workers: int = 1,
) -> BlockPlan:
    """Cut X into blocks that each fit ``memory_per_worker`` bytes, in each step a multiple
    of ``workers`` blocks (a step ends when its last block does: one block left over would
    run while the other workers wait).

    Row blocks hold about ``memory_per_worker / 24`` stored entries (``row_entries``: each
    row's, from a CSR X's ``indptr``; a dense X counts every cell), gene blocks as many genes
    as their dense codes and entries fit, assuming a gene stores at most four times the
    average share of entries (up to all cells). ``block_rows`` and ``block_genes`` fix the
    sizes instead (tests use tiny blocks)."""
    n_cells, n_genes = shape
    per_row = (
        np.full(n_cells, n_genes, np.int64)
        if row_entries is None
        else np.asarray(row_entries, np.int64)
    )
    total = int(per_row.sum())
    record_rows = max(256, min(RECORD_ROWS_MAX, CELLS_PER_RECORD // max(1, n_genes)))
    if layout == "csc":
        row_edges: tuple[int, ...] = (0,)
    elif block_rows is not None:
        row_edges = (*range(0, n_cells, block_rows), n_cells)
        record_rows = min(record_rows, block_rows)
    else:
        fitting = _cuts(per_row, max(1, memory_per_worker // ROW_BLOCK_BYTES_PER_ENTRY))
        blocks = _rounded_up(len(fitting) - 1, workers)
        even = _cuts(per_row, max(1, -(-total // blocks)))
        # Equal blocks unless a row of many entries makes fewer of them (each would then be
        # larger than fits): workers that finish together leave none waiting at the step's end.
        row_edges = even if len(even) - 1 == blocks else fitting
    if block_genes is None:
        itemsize = 4 if bits is None else bits // 8
        share = min(1.0, 4 * total / max(1, n_cells * n_genes))
        per_gene = max(1, n_cells) * (itemsize + ENTRY_BYTES * share)
        block_genes = int(max(1, min(GENE_BLOCK_MAX, memory_per_worker // per_gene)))
        blocks = min(n_genes, _rounded_up(-(-n_genes // block_genes), workers))
        block_genes = max(1, -(-n_genes // max(1, blocks)))
    gene_edges = (*range(0, n_genes, block_genes), n_genes) if n_genes else (0,)
    return BlockPlan(
        n_cells=n_cells,
        n_genes=n_genes,
        layout=layout,
        row_edges=row_edges if n_cells else (0,),
        record_rows=record_rows,
        gene_edges=gene_edges,
    )


def _rounded_up(blocks: int, workers: int) -> int:
    """The multiple of ``workers`` at or above ``blocks``."""
    return -(-blocks // workers) * workers


def _cuts(per_row: NDArray[np.int64], entries: int) -> tuple[int, ...]:
    """Row block edges, each block holding about ``entries`` stored entries (one row that
    holds more is a block of its own)."""
    n_rows = per_row.size
    if n_rows == 0:
        return (0,)
    cumulative = np.cumsum(per_row)
    targets = np.arange(entries, int(cumulative[-1]), entries)
    inner = np.searchsorted(cumulative, targets, side="right")
    edges = np.unique(np.concatenate(([0], inner, [n_rows])))
    return tuple(int(edge) for edge in edges)


@dataclass
class BlockCost:
    """What one block did, for the per-block costs a benchmark prints and a projection uses."""

    kind: Literal["rows", "genes"]
    index: int
    entries: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def timed(self, step: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[step] = self.seconds.get(step, 0.0) + now - since
        return now


def spill_row_block(
    matrix: MatrixBlocks, plan: BlockPlan, index: int
) -> tuple[list[memoryview], list[int], BlockCost]:
    """Row block ``index``: read its cells of X; its spill shard (buffers to write in order),
    where the shard's sections start, and its cost."""
    cost = BlockCost("rows", index)
    start, stop = plan.rows(index)
    began = time.perf_counter()
    chunk = checked(matrix.rows(start, stop), f"cells {start}-{stop}")
    began = cost.timed("read", began)
    records = []
    for first in range(start, stop, plan.record_rows):
        last = min(first + plan.record_rows, stop)
        part = row_range(chunk, first - start, last - start)
        records.append(finite_csc(part, f"cells {first}-{last}"))
    del chunk
    began = cost.timed("convert", began)
    parts, offsets = shard_parts(records, plan.gene_edges)
    cost.timed("layout", began)
    cost.entries = sum(int(record.indptr[-1]) for record in records)
    cost.bytes_out = offsets[-1]
    return parts, offsets, cost


def encode_gene_block(
    plan: BlockPlan,
    index: int,
    sections: Iterable[Any],
    encoder: GeneEncoder,
    write: GeneFiles,
    compression: int,
) -> tuple[GeneBounds, BlockCost]:
    """Gene block ``index`` from its section of every shard (``sections``: their bytes, in row
    block order): the genes' ranges over all cells, and their files written through ``write``."""
    cost = BlockCost("genes", index)
    first, last = plan.genes(index)
    began = time.perf_counter()
    parsed: list[Section] = []
    for row_block, data in enumerate(sections):
        cost.bytes_in += len(memoryview(data).cast("B"))
        parsed.append(
            read_section(data, last - first, plan.record_starts(row_block), f"{row_block}/{index}")
        )
    began = cost.timed("read", began)
    bounds = GeneBounds.empty(last - first)
    for section in parsed:
        np.minimum(bounds.minimum, section.minimum, out=bounds.minimum)
        np.maximum(bounds.maximum, section.maximum, out=bounds.maximum)
        bounds.stored += section.entries.counts.sum(axis=0, dtype=np.int64)
    bounds.finish(plan.n_cells)
    _encode(first, [s.entries for s in parsed], bounds, encoder, write, compression, cost, began)
    return bounds, cost


def encode_gene_columns(
    matrix: MatrixBlocks,
    plan: BlockPlan,
    index: int,
    encoder: GeneEncoder,
    write: GeneFiles,
    compression: int,
) -> tuple[GeneBounds, BlockCost]:
    """Gene block ``index`` read straight from a CSC (or in-memory) X's columns."""
    cost = BlockCost("genes", index)
    first, last = plan.genes(index)
    began = time.perf_counter()
    columns = to_csc(matrix.columns(first, last), f"genes {first}-{last}")
    began = cost.timed("read", began)
    bounds = GeneBounds.of(columns)
    bounds.finish(plan.n_cells)
    _encode(first, [Entries.of_columns(columns)], bounds, encoder, write, compression, cost, began)
    return bounds, cost


def _encode(
    first: int,
    parts: Sequence[Entries],
    bounds: GeneBounds,
    encoder: GeneEncoder,
    write: GeneFiles,
    compression: int,
    cost: BlockCost,
    began: float,
) -> None:
    dense = encoder.begin(bounds.minimum, bounds.maximum)
    for entries in parts:
        encoder.add(entries)
        cost.entries += int(entries.values.size)
    began = cost.timed("quantise", began)
    for offset, column in enumerate(dense):
        data = memoryview(column)
        payload = gzip_member(GENE_VALUES, data, compression) if compression else data
        began = cost.timed("compress", began)
        write(GENE_VALUES.path(encoder.encoding, compression, index=first + offset), payload)
        cost.bytes_out += len(payload)
        began = cost.timed("write", began)
