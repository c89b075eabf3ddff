"""Plan: the first step of the distributed export (DESIGN §3 at any size).

Reads the upload's structure by byte ranges (shapes, ``indptr``, obs, embeddings, the graph),
writes every payload but the genes under the attempt's export prefix, and cuts X into blocks:
the row blocks and gene blocks become the two maps' items, a few blocks per item. What
Finalize needs to write the manifests is kept under the work prefix; nothing under the export
prefix names a file before Finalize has checked them all.
"""

from __future__ import annotations

import contextlib
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, TypeAdapter

from cellucid_cloud.core.ports import ByteRanges, Objects
from cellucid_cloud.export import PrepareError
from cellucid_cloud.export.blocks import BlockPlan, plan_blocks
from cellucid_cloud.export.gene_names import GeneNames
from cellucid_cloud.export.layout import ExportManifests
from cellucid_cloud.export.matrix_files import MatrixLocation, row_entries, stored_matrix
from cellucid_cloud.export.outline import manifest_documents, outline_export, plan_export
from cellucid_cloud.export.payloads import Payloads
from cellucid_cloud.export.quantize import Bits
from cellucid_cloud.export.source import opened_source

from .upload_file import open_upload
from .work import BlockKind, ExportPlanned, Refusal, WorkOrder, items

__all__ = ["MAX_ITEMS", "PlanOutcome", "Planned", "plan_step", "refuse"]

MAX_ITEMS: Final = 400
"""Items per map at most; more blocks are batched, several to an item."""
PUTS: Final = 16
"""Payloads stored at once."""


class Planned(BaseModel):
    """What Finalize needs to write the manifests, besides the genes' reports."""

    documents: dict[str, str]
    """The identity, obs and connectivity manifests, as written."""
    names: GeneNames | None
    n_cells: int


class PlanOutcome(BaseModel):
    """The Plan task's result in the state: where each map's items are."""

    rows: str
    genes: str


def var_bits(order: WorkOrder) -> Bits | None:
    bits: Bits | None = order.settings.var_quantization or None
    return bits


def plan_step(
    order: WorkOrder, uploads: Objects, exports: Objects, *, block_memory: int
) -> PlanOutcome:
    """Plan ``order``'s export; a file that cannot be exported leaves a refusal for Finalize
    and empty maps. ``block_memory`` is what one block may use."""
    try:
        ranges = uploads.ranges(order.upload_key, order.upload_etag)
        planned = _plan(order, ranges, exports, block_memory)
    except PrepareError as error:
        refuse(exports, order, str(error))
        planned = None
    kinds: tuple[BlockKind, ...] = ("rows", "genes")
    for kind in kinds:
        blocks = 0 if planned is None else _count(planned.blocks, kind)
        per_item = max(1, math.ceil(blocks / MAX_ITEMS))
        exports.put(order.items_key(kind), _json(items(order.plan_key, blocks, per_item)))
    return PlanOutcome(rows=order.items_key("rows"), genes=order.items_key("genes"))


def refuse(exports: Objects, order: WorkOrder, reason: str) -> None:
    """Record that the file cannot be exported; the first reason stays."""
    with contextlib.suppress(FileExistsError):
        refusal = Refusal(reason=reason).model_dump_json().encode()
        exports.put(order.refusal_key, refusal, create_only=True)


def _count(blocks: BlockPlan, kind: BlockKind) -> int:
    if kind == "genes":
        return blocks.n_gene_blocks
    return 0 if blocks.layout == "csc" else blocks.n_row_blocks


def _json(value: Any) -> bytes:
    return TypeAdapter(Any).dump_json(value)


def _plan(
    order: WorkOrder, ranges: ByteRanges, exports: Objects, block_memory: int
) -> ExportPlanned | None:
    settings = order.settings
    name = Path(order.file_name)

    def store(path: str, data: bytes) -> None:
        exports.put(order.export_prefix + path, data, create_only=True)

    with open_upload(ranges, name) as root:
        src = opened_source(root, name, settings, order.upload_modified)
        plan = plan_export(src, settings)
        with ThreadPoolExecutor(PUTS) as pool:
            payloads = Payloads(store, settings.compression, pool)
            outline = outline_export(plan, payloads)
            obs = outline.obs_manifest()
            payloads.wait()
        manifests = ExportManifests(outline.identity, obs, None, outline.connectivity)
        planned: ExportPlanned | None = None
        matrix = src.matrix
        if plan.names is not None and matrix is not None:
            node = getattr(matrix, "node", None)
            if node is None:
                raise PrepareError(f"{name}: {src.expression_matrix} is not stored as an array")
            location = MatrixLocation(
                path=order.upload_key, node=node, layout=matrix.layout, shape=matrix.shape
            )
            stored = stored_matrix(root, location)
            blocks = plan_blocks(
                matrix.shape,
                matrix.layout,
                bits=var_bits(order),
                memory_per_worker=block_memory,
                row_entries=row_entries(stored) if matrix.layout == "csr" else None,
                block_rows=settings.block_rows,
                block_genes=settings.block_genes,
            )
            planned = ExportPlanned(order=order, blocks=blocks, matrix=location)
    documents = {file: data.decode() for file, data in manifest_documents(manifests).items()}
    finishing = Planned(
        documents=documents,
        names=plan.names,
        n_cells=src.n_cells,
    )
    exports.put(order.manifests_key, finishing.model_dump_json().encode())
    if planned is not None:
        exports.put(order.plan_key, planned.model_dump_json().encode())
    return planned
