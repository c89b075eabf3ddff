"""The blocks of X as tasks for a thread or a worker process of this machine.

Top-level functions, so that a process pool can run them; X is passed as itself (threads) or
as where it is stored (processes), and each worker opens it once and keeps one encoder, whose
buffers serve block after block. Shards and gene files go through :mod:`.block_files`.
"""

import itertools
import threading
from contextlib import ExitStack

from .block_files import GeneFolder, Span, read_spans, write_shard
from .blocks import (
    BlockCost,
    BlockPlan,
    encode_gene_block,
    encode_gene_columns,
    spill_row_block,
)
from .gene_encoder import GeneBounds, GeneEncoder
from .matrix import MatrixBlocks
from .matrix_files import MatrixLocation, open_matrix
from .quantize import Bits

Matrix = MatrixBlocks | MatrixLocation
"""X itself (a thread of this process reads it) or where it is (a worker process opens it)."""

_local = threading.local()
_process_files: dict[MatrixLocation, tuple[ExitStack, MatrixBlocks]] = {}


def _opened(matrix: Matrix) -> MatrixBlocks:
    """X, opened once per worker process when given by its location."""
    if not isinstance(matrix, MatrixLocation):
        return matrix
    if matrix not in _process_files:
        stack = ExitStack()
        _process_files[matrix] = (stack, stack.enter_context(open_matrix(matrix)))
    return _process_files[matrix][1]


def _encoder(plan: BlockPlan, bits: Bits | None) -> GeneEncoder:
    """This thread's encoder, its buffers kept from one block to the next."""
    width = max(b - a for a, b in itertools.pairwise(plan.gene_edges))
    encoder: GeneEncoder | None = getattr(_local, "encoder", None)
    if (
        encoder is None
        or encoder.dense.shape[0] < width
        or encoder.n_cells != plan.n_cells
        or encoder.bits != bits
    ):
        encoder = _local.encoder = GeneEncoder(width, plan.n_cells, bits)
    return encoder


def row_task(
    matrix: Matrix, plan: BlockPlan, index: int, shard: str | None
) -> tuple[str | bytes, list[int], BlockCost]:
    """Row block ``index`` as a spill shard: the file ``shard`` written, or, with none, the
    shard's bytes (a spill held in memory); then its section offsets and cost."""
    parts, offsets, cost = spill_row_block(_opened(matrix), plan, index)
    if shard is None:
        return b"".join(parts), offsets, cost
    write_shard(shard, parts)
    return shard, offsets, cost


def spill_gene_task(
    plan: BlockPlan, index: int, spans: list[Span], folder: str, bits: Bits | None, compression: int
) -> tuple[GeneBounds, BlockCost]:
    """Gene block ``index`` from the spill shards' sections ``spans``."""
    return held_gene_task(plan, index, read_spans(spans), folder, bits, compression)


def held_gene_task(
    plan: BlockPlan,
    index: int,
    sections: list[memoryview],
    folder: str,
    bits: Bits | None,
    compression: int,
) -> tuple[GeneBounds, BlockCost]:
    """Gene block ``index`` from its section of every shard, in memory."""
    encoder = _encoder(plan, bits)
    with GeneFolder(folder) as write:
        return encode_gene_block(plan, index, sections, encoder, write, compression)


def columns_gene_task(
    matrix: Matrix, plan: BlockPlan, index: int, folder: str, bits: Bits | None, compression: int
) -> tuple[GeneBounds, BlockCost]:
    """Gene block ``index`` from X's columns."""
    encoder = _encoder(plan, bits)
    with GeneFolder(folder) as write:
        return encode_gene_columns(_opened(matrix), plan, index, encoder, write, compression)
