"""One file per gene on this machine: the blocks of :mod:`.blocks` on threads or processes.

Row blocks write their spill shards into a scratch folder, then gene blocks read their section
of every shard and write their genes' files; a CSC or in-memory X is read a block of columns at
a time instead. Blocks run on a thread pool in this process, or, when X is in a file and
``processes`` is set, on a pool of worker processes (:mod:`.block_pool`) that open X themselves:
h5py serialises calls within a process, so processes read X in parallel where threads take
turns. Either way the files are the same bytes. Peak memory is a few blocks per worker, whatever
the size of X.
"""

import itertools
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from .blocks import (
    BlockCost,
    BlockPlan,
    Progress,
    encode_gene_block,
    encode_gene_columns,
    plan_blocks,
    spill_row_block,
)
from .gene_encoder import GeneBounds, GeneEncoder
from .matrix import Layout, MatrixBlocks
from .matrix_checks import check_structure
from .matrix_files import MatrixLocation, open_matrix, row_entries
from .quantize import Bits

__all__ = ["GeneWriter", "Progress"]

Matrix = MatrixBlocks | MatrixLocation
"""X itself (a thread of this process reads it) or where it is (a worker process opens it)."""
Span = tuple[str, int, int]
"""A gene block's section of one shard: the shard's path, first byte, end byte."""


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
        *,
        location: MatrixLocation | None = None,
        pool: Callable[[], Executor] | None = None,
        block_rows: int | None = None,
        block_genes: int | None = None,
    ) -> None:
        self.folder = folder
        self.names = names
        self.n_cells = n_cells
        self.bits = bits
        self.compression = compression
        self.workers = workers
        self.memory_budget = memory_budget
        self.location = location
        """Where X is stored, so that ``pool``'s processes can open it."""
        self.pool = pool
        """Makes the process pool the blocks run on; None (or X not in a file): threads."""
        self.block_rows = block_rows
        self.block_genes = block_genes
        self.costs: list[BlockCost] = []
        """What each block did, in the order they finished."""

    def plan(self, layout: Layout, matrix: MatrixBlocks) -> BlockPlan:
        return plan_blocks(
            (self.n_cells, len(self.names)),
            layout,
            bits=self.bits,
            memory_per_worker=self.memory_budget // max(1, self.workers),
            row_entries=row_entries(matrix) if layout == "csr" else None,
            block_rows=self.block_rows,
            block_genes=self.block_genes,
        )

    def write(self, matrix: MatrixBlocks, progress: Progress) -> GeneBounds:
        """Every gene's file from ``matrix`` (X as the source read it; a file's X is read again
        from ``location`` by this writer's own reader)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            stored: MatrixBlocks = matrix
            if self.location is not None:
                stored = stack.enter_context(open_matrix(self.location))
            columns = _column_source(stored)
            layout: Layout = "csc" if columns is not None else stored.layout
            plan = self.plan(layout, stored)
            source: Matrix = columns if columns is not None else stored
            if self.pool is not None and self.location is not None:
                executor = stack.enter_context(self.pool())
                source = self.location
            else:
                executor = stack.enter_context(ThreadPoolExecutor(self.workers))
            if layout == "csc":
                return self._genes(executor, plan, source, None, progress)
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="cellucid-spill-"))
            shards = self._rows(executor, plan, source, Path(scratch), progress)
            return self._genes(executor, plan, source, shards, progress)

    def _rows(
        self, executor: Executor, plan: BlockPlan, matrix: Matrix, scratch: Path, progress: Progress
    ) -> list[tuple[str, list[int]]]:
        """Run every row block; each shard's path and section offsets, in row block order."""
        shards: list[tuple[str, list[int]]] = [("", [])] * plan.n_row_blocks
        tasks = {
            executor.submit(row_task, matrix, plan, i, str(scratch / f"{i}.shard")): i
            for i in range(plan.n_row_blocks)
        }
        for future in _completed(tasks):
            offsets, cost = future.result()
            index = tasks[future]
            shards[index] = (str(scratch / f"{index}.shard"), offsets)
            self.costs.append(cost)
            start, stop = plan.rows(index)
            progress("reading X", stop - start, self.n_cells)
        return shards

    def _genes(
        self,
        executor: Executor,
        plan: BlockPlan,
        matrix: Matrix,
        shards: list[tuple[str, list[int]]] | None,
        progress: Progress,
    ) -> GeneBounds:
        """Run every gene block, from the spill ``shards`` or, without them, ``matrix``'s
        columns; the genes' ranges over all cells."""
        folder = str(self.folder)
        tasks: dict[Future[Any], int] = {}
        for b in range(plan.n_gene_blocks):
            if shards is not None:
                spans = [(path, offsets[b], offsets[b + 1]) for path, offsets in shards]
                future = executor.submit(
                    spill_gene_task, plan, b, spans, folder, self.bits, self.compression
                )
            else:
                future = executor.submit(
                    columns_gene_task, matrix, plan, b, folder, self.bits, self.compression
                )
            tasks[future] = b
        bounds = GeneBounds.empty(plan.n_genes)
        for future in _completed(tasks):
            block, cost = future.result()
            first, last = plan.genes(tasks[future])
            bounds.minimum[first:last] = block.minimum
            bounds.maximum[first:last] = block.maximum
            bounds.stored[first:last] = block.stored
            self.costs.append(cost)
            progress("writing genes", last - first, plan.n_genes)
        return bounds


def _completed[T](tasks: Iterable[Future[T]]) -> Iterator[Future[T]]:
    """Futures as they finish; the first failure cancels what has not started and raises."""
    pending = list(tasks)
    try:
        for future in as_completed(pending):
            future.result()
            yield future
    except BaseException:
        for future in pending:
            future.cancel()
        raise


# -- the tasks: top-level functions, so that worker processes can run them -------------------

_local = threading.local()


def _opened(matrix: Matrix) -> MatrixBlocks:
    """X, opened once per worker process when given by its location."""
    if not isinstance(matrix, MatrixLocation):
        return matrix
    cache: dict[MatrixLocation, tuple[ExitStack, MatrixBlocks]] = _process_files
    if matrix not in cache:
        stack = ExitStack()
        cache[matrix] = (stack, stack.enter_context(open_matrix(matrix)))
    return cache[matrix][1]


_process_files: dict[MatrixLocation, tuple[ExitStack, MatrixBlocks]] = {}


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
    matrix: Matrix, plan: BlockPlan, index: int, shard: str
) -> tuple[list[int], BlockCost]:
    """Row block ``index`` into the shard file ``shard``; its section offsets and cost."""
    parts, offsets, cost = spill_row_block(_opened(matrix), plan, index)
    fd = os.open(shard, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        _write_all(fd, parts)
    finally:
        os.close(fd)
    return offsets, cost


def spill_gene_task(
    plan: BlockPlan, index: int, spans: list[Span], folder: str, bits: Bits | None, compression: int
) -> tuple[GeneBounds, BlockCost]:
    """Gene block ``index`` from the spill shards' sections ``spans``."""
    encoder = _encoder(plan, bits)
    with _GeneFolder(folder) as write:
        return encode_gene_block(plan, index, _read_spans(spans), encoder, write, compression)


def columns_gene_task(
    matrix: Matrix, plan: BlockPlan, index: int, folder: str, bits: Bits | None, compression: int
) -> tuple[GeneBounds, BlockCost]:
    """Gene block ``index`` from X's columns."""
    encoder = _encoder(plan, bits)
    with _GeneFolder(folder) as write:
        return encode_gene_columns(_opened(matrix), plan, index, encoder, write, compression)


def _read_spans(spans: list[Span]) -> list[memoryview]:
    """Each span's bytes, read into one buffer of this thread (kept for the next block)."""
    total = sum(-(stop - start) // 8 * -8 for _, start, stop in spans)
    buffer: bytearray | None = getattr(_local, "spill_buffer", None)
    if buffer is None or len(buffer) < total:
        buffer = _local.spill_buffer = bytearray(total)
    view = memoryview(buffer)
    sections = []
    at = 0
    for path, start, stop in spans:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _read_into(fd, view[at : at + stop - start], start)
        finally:
            os.close(fd)
        sections.append(view[at : at + stop - start])
        at += -(stop - start) // 8 * -8
    return sections


def _read_into(fd: int, target: memoryview, offset: int) -> None:
    """Fill ``target`` from the file at ``offset`` without an intermediate bytes object."""
    while target:
        done = os.preadv(fd, [target], offset)
        if done <= 0:
            raise OSError(f"spill file ended early at byte {offset}")
        target, offset = target[done:], offset + done


def _write_all(fd: int, parts: list[Any]) -> None:
    for start in range(0, len(parts), 512):
        batch = [memoryview(part) for part in parts[start : start + 512]]
        while batch:
            done = os.writev(fd, batch)
            while batch and done >= len(batch[0]):
                done -= len(batch[0])
                batch.pop(0)
            if batch and done:
                batch[0] = batch[0][done:]


class _GeneFolder:
    """Writes gene files into an open folder: no path lookup and no Python file object."""

    def __init__(self, folder: str) -> None:
        self.fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def __enter__(self) -> Callable[[str, Any], None]:
        return self.write

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def write(self, name: str, data: Any) -> None:
        fd = os.open(
            name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666, dir_fd=self.fd
        )
        try:
            view = memoryview(data).cast("B")
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)


# -- X that is read by columns -----------------------------------------------------------------


def _column_source(matrix: MatrixBlocks) -> MatrixBlocks | None:
    """X read a block of columns at a time (CSC, or in memory), or None: by row blocks."""
    array = getattr(matrix, "array", None)
    in_memory = isinstance(array, np.ndarray) or sparse.issparse(array)
    if in_memory and matrix.layout == "csr":
        return _ColumnsOfMemoryCsr(array)
    if in_memory or matrix.layout == "csc":
        return matrix
    return None


class _ColumnsOfMemoryCsr:
    """An in-memory CSR X converted to CSC once, instead of slicing columns of CSR per block."""

    layout: Layout = "csc"

    def __init__(self, matrix: Any) -> None:
        check_structure(matrix, "X")
        self.array = sparse.csc_matrix(matrix)
        self.shape = (int(matrix.shape[0]), int(matrix.shape[1]))

    def rows(self, start: int, stop: int) -> Any:
        return self.array[start:stop]

    def columns(self, start: int, stop: int) -> Any:
        return self.array[:, start:stop]
