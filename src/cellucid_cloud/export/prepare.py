"""``prepare``: an AnnData in, a complete Cellucid export folder out (DESIGN §3).

Order of work: X's blocks begin first, from the file's structure alone (``head_start.py``),
while the engine (anndata and its stack) is imported beside them; everything that can be
refused (embeddings, obs, names, graph) is then read and checked before its payloads are
written (``outline.py``); the folder, built in staging, is checked against what its manifests
declare, and only then renamed into place. This module imports the engine only when it runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .blocks import BlockCost
from .collector import collector_paused
from .errors import PrepareError
from .gene_encoder import GeneBounds
from .gene_writer import GeneWriter
from .head_start import GenesBegun, begin_genes, gene_writer
from .layout import ExportManifests, files_on_disk
from .manifests import DatasetIdentity, VarManifest
from .matrix_files import MatrixLocation
from .progress import Progress, no_progress
from .settings import ExportOptions, ExportSettings, describe_invalid
from .staging import staged_folder

if TYPE_CHECKING:
    import anndata as ad

    from .source import AnnDataSource


@dataclass(frozen=True)
class PrepareResult:
    """What was written, for the caller to report."""

    out_dir: Path
    identity: DatasetIdentity
    n_files: int
    n_bytes: int
    warnings: list[str] = field(default_factory=list)
    block_costs: list[BlockCost] = field(default_factory=list)
    """What each block of the gene work did (``prepare --costs``)."""


def prepare(
    source: ad.AnnData | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    settings: ExportSettings | None = None,
    *,
    options: ExportOptions | None = None,
    force: bool = False,
    progress: Progress | None = None,
    **fields: Any,
) -> PrepareResult:
    """Export ``source`` (an AnnData, or a path to .h5ad / .zarr / .zarr.zip) to ``out_dir``.

    ``fields`` are the fields of ExportSettings (e.g. ``dataset_id``, ``compression``), an
    alternative to ``settings``; a curator's ``options`` are applied over either. Bad input
    raises PrepareError with a one-line reason.
    """
    if settings is None:
        try:
            settings = ExportSettings(**fields)
        except ValidationError as error:
            raise PrepareError(f"invalid setting {describe_invalid(error)}") from None
    elif fields:
        raise TypeError("pass either settings or keyword fields, not both")
    settings = settings.with_options(options)
    report = progress or no_progress
    with staged_folder(Path(out_dir), force=force) as stage, ThreadPoolExecutor(1) as thread:
        begun = begin_genes(source, settings, stage, thread, report)
        try:
            open_source = _engine()
            with open_source(source, settings) as src:
                return _prepare_open(src, Path(out_dir), stage, settings, report, thread, begun)
        finally:
            if begun is not None:
                begun.stop()


def _engine() -> Callable[..., ContextManager[AnnDataSource]]:
    """The engine's reader, imported (with anndata and its stack) beside X's blocks."""
    with collector_paused():
        from .source import open_source
    return open_source


def matrix_location(src: AnnDataSource) -> MatrixLocation | None:
    """Where the source's gene values are stored, for block workers to open; None in memory."""
    node = getattr(src.matrix, "node", None)
    if src.path is None or src.matrix is None or node is None:
        return None
    return MatrixLocation(
        path=str(src.path), node=node, layout=src.matrix.layout, shape=src.matrix.shape
    )


def _prepare_open(
    src: AnnDataSource,
    out_dir: Path,
    stage: Path,
    settings: ExportSettings,
    report: Progress,
    thread: ThreadPoolExecutor,
    begun: GenesBegun | None,
) -> PrepareResult:
    from .outline import describe_export, manifest_documents, plan_export, var_manifest
    from .payloads import Payloads, folder_store

    plan = plan_export(src, settings)
    location = matrix_location(src)
    writer: GeneWriter | None = None
    bounds: Future[GeneBounds] | None = None
    if plan.names is not None and src.matrix is not None:
        bounds = begun.adopt(location) if begun is not None else None
        if begun is not None and bounds is not None:
            writer = begun.writer
        else:
            writer = gene_writer(stage, settings, (src.n_cells, src.n_genes), location)
            bounds = thread.submit(writer.write, src.matrix, report)
    elif begun is not None:
        begun.adopt(None)

    def genes() -> VarManifest | None:
        if bounds is None or plan.names is None:
            return None
        return var_manifest(settings, plan.names, bounds.result(), src.n_cells)

    with ThreadPoolExecutor(settings.worker_count()) as pool:
        payloads = Payloads(folder_store(stage), settings.compression, pool)
        manifests: ExportManifests = describe_export(plan, payloads, genes, report)
    for name, data in manifest_documents(manifests).items():
        (stage / name).write_bytes(data)
    declared, present = manifests.declared_paths(), files_on_disk(stage)
    if declared != present:
        raise PrepareError(
            f"internal check failed: declared and written files differ "
            f"({sorted(declared ^ present)[:3]})"
        )
    root = os.fspath(stage)
    n_bytes = sum(os.stat(os.path.join(root, p)).st_size for p in present)
    return PrepareResult(
        out_dir.absolute(),
        manifests.identity,
        len(present),
        n_bytes,
        plan.warnings,
        writer.costs if writer is not None else [],
    )
