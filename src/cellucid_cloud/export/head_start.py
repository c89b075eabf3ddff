"""X's blocks begun from the file's structure alone, before the export engine is imported.

The gene files are most of an export's work, and they need no part of anndata: the gene writer
reads X through h5py by its place in the file (:func:`~.matrix_files.locate_in_file`). Importing
anndata and its stack takes ~0.65 s of one core, so ``prepare`` begins X's blocks first and
imports the engine beside them; the engine then adopts the blocks if the X it chose is the one
begun here (:meth:`GenesBegun.adopt`), else stops them and writes the genes itself. Only an
.h5ad file gets a head start: a zarr store needs zarr, which is most of that import anyway.
"""

import contextlib
import os
import shutil
from collections.abc import Callable
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass
from pathlib import Path

from .block_pool import process_pool
from .format import GENE_VALUES
from .gene_child import GeneChild, can_fork
from .gene_encoder import GeneBounds
from .gene_writer import GeneWriter
from .matrix_files import MatrixLocation, locate_in_file
from .progress import Progress
from .quantize import bits_of
from .settings import ExportSettings

__all__ = ["GenesBegun", "begin_genes", "gene_writer"]


def gene_writer(
    folder: Path, settings: ExportSettings, shape: tuple[int, int], location: MatrixLocation | None
) -> GeneWriter:
    """The gene writer of an export with ``settings`` of an X of ``shape`` (cells, genes)."""
    workers = settings.worker_count()
    return GeneWriter(
        folder,
        shape[1],
        shape[0],
        bits_of(settings.var_quantization),
        settings.compression,
        workers,
        settings.memory_budget_mb << 20,
        location=location,
        pool=(lambda: process_pool(workers)) if settings.workers else None,
        block_rows=settings.block_rows,
        block_genes=settings.block_genes,
    )


@dataclass(frozen=True)
class GenesBegun:
    """Gene blocks running into an export's staging folder (in a forked child, or on threads
    of this process, ``gene_child.py`` says when), ``halt`` ending them."""

    location: MatrixLocation
    writer: GeneWriter
    bounds: Future[GeneBounds]
    halt: Callable[[], None]

    def adopt(self, location: MatrixLocation | None) -> Future[GeneBounds] | None:
        """The blocks' result if they write the X at ``location``; else they are stopped, their
        files removed, and None."""
        if location == self.location:
            return self.bounds
        self.stop()
        shutil.rmtree(self.writer.folder / GENE_VALUES.folder, ignore_errors=True)
        return None

    def stop(self) -> None:
        """End the blocks; a no-op once they are done. On return none of them writes."""
        self.halt()
        wait([self.bounds])


def begin_genes(
    source: object, settings: ExportSettings, folder: Path, thread: Executor, report: Progress
) -> GenesBegun | None:
    """Start writing the genes of ``source`` into ``folder`` when it is an .h5ad file whose X
    can be located without anndata (``thread`` waits for them); None otherwise."""
    if not isinstance(source, str | os.PathLike):
        return None
    path = Path(source)
    if path.name.lower().endswith((".zarr", ".zip")) or not path.is_file():
        return None
    location = locate_in_file(path, settings.expression_matrix)
    if location is None or 0 in location.shape:
        return None
    writer = gene_writer(folder, settings, location.shape, location)
    if settings.workers is None and can_fork():
        with contextlib.suppress(OSError):  # no process to spare: threads of this one
            child = GeneChild(writer, thread, report)
            return GenesBegun(location, writer, child.bounds, child.stop)
    return GenesBegun(location, writer, thread.submit(writer.write, None, report), writer.stop)
