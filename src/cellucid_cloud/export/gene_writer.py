"""One file per gene on this machine: the blocks of :mod:`.blocks` on threads or processes.

Row blocks write their spill shards into a scratch folder, then gene blocks read their section
of every shard and write their genes' files; a CSC or in-memory X is read a block of columns at
a time instead. Blocks run on a thread pool in this process, or, when X is in a file and
``processes`` is set, on a pool of worker processes (:mod:`.block_pool`) that open X themselves
(a compressed X is read through h5py, which serialises calls within a process: processes read
it in parallel where threads take turns). Either way the files are the same bytes. Peak memory
is a few blocks per worker, whatever the size of X.
"""

import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError, Executor, Future, ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .block_tasks import Matrix, columns_gene_task, held_gene_task, row_task, spill_gene_task
from .blocks import ENTRY_BYTES, BlockCost, BlockPlan, plan_blocks
from .format import GENE_VALUES
from .gene_encoder import GeneBounds
from .matrix import Layout, MatrixBlocks, by_columns
from .matrix_files import MatrixLocation, open_matrix, row_entries
from .progress import Progress
from .quantize import Bits

Shard = tuple[str | bytes, list[int]]
"""A row block's spill shard (its file's path, or its bytes when held) and section offsets."""


class GeneWriter:
    """Writes every gene's file (``GENE_VALUES``) into an export folder and returns their value
    ranges."""

    def __init__(
        self,
        folder: Path,
        n_genes: int,
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
        self.n_genes = n_genes
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
        self._stopped = threading.Event()

    def stop(self) -> None:
        """Make :meth:`write` end, raising CancelledError, once the blocks running now end."""
        self._stopped.set()

    def plan(self, layout: Layout, per_row: NDArray[np.int64] | None) -> BlockPlan:
        return plan_blocks(
            (self.n_cells, self.n_genes),
            layout,
            bits=self.bits,
            memory_per_worker=self.memory_budget // max(1, self.workers),
            row_entries=per_row,
            block_rows=self.block_rows,
            block_genes=self.block_genes,
            workers=self.workers,
        )

    def write(self, matrix: MatrixBlocks | None, progress: Progress) -> GeneBounds:
        """Every gene's file from ``matrix`` (X as the source read it), or from ``location``
        when set: a file's X is read again there by this writer's own reader."""
        (self.folder / GENE_VALUES.folder).mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            if self.location is not None:
                stored = stack.enter_context(open_matrix(self.location))
            elif matrix is not None:
                stored = matrix
            else:
                raise ValueError("a gene writer needs X or its location")
            columns = by_columns(stored)
            layout: Layout = "csc" if columns is not None else stored.layout
            per_row = row_entries(stored) if layout == "csr" else None
            plan = self.plan(layout, per_row)
            source: Matrix = columns if columns is not None else stored
            processes = self.pool is not None and self.location is not None
            entries = int(per_row.sum()) if per_row is not None else self.n_cells * self.n_genes
            # Threads hold a spill that fits the memory budget: as a file it would sit in the
            # page cache all the same, after a copy in and before a copy out, and the disk's
            # block allocation and write-back (~10 % of the export at 200,000 x 2,000).
            held = not processes and ENTRY_BYTES * entries <= self.memory_budget
            # The scratch folder is removed after the pool has ended (last in, first out):
            # blocks still running when one fails or the writer is stopped write into it.
            scratch = (
                None
                if layout == "csc" or held
                else Path(
                    stack.enter_context(tempfile.TemporaryDirectory(prefix="cellucid-spill-"))
                )
            )
            if self.pool is not None and self.location is not None:
                executor = stack.enter_context(self.pool())
                source = self.location
            else:
                executor = stack.enter_context(ThreadPoolExecutor(self.workers))
            if layout == "csc":
                return self._genes(executor, plan, source, None, progress)
            shards = self._rows(executor, plan, source, scratch, progress)
            return self._genes(executor, plan, source, shards, progress)

    def _rows(
        self,
        executor: Executor,
        plan: BlockPlan,
        matrix: Matrix,
        scratch: Path | None,
        progress: Progress,
    ) -> list[Shard]:
        """Run every row block; each shard (its file's path, or its bytes without
        ``scratch``) and section offsets, in row block order."""
        shards: list[Shard] = [("", [])] * plan.n_row_blocks
        tasks = {
            executor.submit(
                row_task, matrix, plan, i, None if scratch is None else str(scratch / f"{i}.shard")
            ): i
            for i in range(plan.n_row_blocks)
        }
        for future in _completed(tasks, self._stopped):
            shard, offsets, cost = future.result()
            index = tasks[future]
            shards[index] = (shard, offsets)
            self.costs.append(cost)
            start, stop = plan.rows(index)
            progress("reading X", stop - start, self.n_cells)
        return shards

    def _genes(
        self,
        executor: Executor,
        plan: BlockPlan,
        matrix: Matrix,
        shards: list[Shard] | None,
        progress: Progress,
    ) -> GeneBounds:
        """Run every gene block, from the spill ``shards`` or, without them, ``matrix``'s
        columns; the genes' ranges over all cells."""
        folder = str(self.folder)
        held = [(data, o) for data, o in shards or [] if isinstance(data, bytes)]
        tasks: dict[Future[Any], int] = {}
        for b in range(plan.n_gene_blocks):
            if shards is not None and len(held) == len(shards):
                sections = [memoryview(data)[o[b] : o[b + 1]] for data, o in held]
                future = executor.submit(
                    held_gene_task, plan, b, sections, folder, self.bits, self.compression
                )
            elif shards is not None:
                spans = [(str(path), offsets[b], offsets[b + 1]) for path, offsets in shards]
                future = executor.submit(
                    spill_gene_task, plan, b, spans, folder, self.bits, self.compression
                )
            else:
                future = executor.submit(
                    columns_gene_task, matrix, plan, b, folder, self.bits, self.compression
                )
            tasks[future] = b
        bounds = GeneBounds.empty(plan.n_genes)
        for future in _completed(tasks, self._stopped):
            block, cost = future.result()
            first, last = plan.genes(tasks[future])
            bounds.minimum[first:last] = block.minimum
            bounds.maximum[first:last] = block.maximum
            bounds.stored[first:last] = block.stored
            self.costs.append(cost)
            progress("writing genes", last - first, plan.n_genes)
        return bounds


def _completed[T](tasks: Iterable[Future[T]], stopped: threading.Event) -> Iterator[Future[T]]:
    """Futures as they finish; the first failure, or ``stopped``, cancels what has not
    started and raises."""
    pending = list(tasks)
    try:
        for future in as_completed(pending):
            future.result()
            if stopped.is_set():
                raise CancelledError("the gene blocks were stopped")
            yield future
    except BaseException:
        for future in pending:
            future.cancel()
        raise
