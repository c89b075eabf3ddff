"""Row blocks and gene blocks: the two maps of the distributed export.

A row block reads its contiguous range of X's rows from the upload (one byte range of each of
``data`` and ``indices`` for a CSR X) and stores one spill shard; a gene block reads its
section of every shard (one ranged GET each), or its columns of a CSC X, and stores its genes'
files under the attempt's export prefix, never replacing one (``If-None-Match: *``). Each
block then stores its report; Finalize trusts the reports, not the map run. The file's faults
found here (NaN in X, a corrupt chunk) end the export as a refusal with their reason; any
other error fails the function, and Step Functions retries it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Final

from cellucid_cloud.core.ports import Objects
from cellucid_cloud.export import PrepareError
from cellucid_cloud.export.blocks import encode_gene_block, encode_gene_columns, spill_row_block
from cellucid_cloud.export.gene_encoder import GeneEncoder
from cellucid_cloud.export.matrix import MatrixBlocks
from cellucid_cloud.export.matrix_files import stored_matrix

from .plan import refuse, var_bits
from .upload_file import open_upload
from .work import BlockItem, Cost, ExportPlanned, Report

__all__ = ["gene_blocks_step", "row_blocks_step"]

PARALLEL: Final = 16
"""Ranged GETs and PUTs at once."""


def row_blocks_step(item: BlockItem, uploads: Objects, exports: Objects) -> list[int]:
    """Spill the item's row blocks; the blocks done."""
    planned = ExportPlanned.model_validate_json(exports.get(item.plan))
    order = planned.order
    try:
        with _matrix(planned, uploads) as matrix:
            for index in item.blocks:
                parts, offsets, cost = spill_row_block(matrix, planned.blocks, index)
                exports.put_parts(order.shard_key(index), parts)
                report = Report(kind="rows", index=index, offsets=offsets, cost=Cost.of(cost))
                exports.put(order.report_key("rows", index), report.model_dump_json().encode())
    except PrepareError as error:
        refuse(exports, order, str(error))
    return item.blocks


def gene_blocks_step(item: BlockItem, uploads: Objects, exports: Objects) -> list[int]:
    """Encode and store the item's gene blocks; the blocks done."""
    planned = ExportPlanned.model_validate_json(exports.get(item.plan))
    order, blocks = planned.order, planned.blocks
    width = max(b - a for a, b in itertools.pairwise(blocks.gene_edges))
    encoder = GeneEncoder(width, blocks.n_cells, var_bits(order))
    compression = order.settings.compression
    with ThreadPoolExecutor(PARALLEL, thread_name_prefix="block-io") as pool, ExitStack() as stack:
        try:
            matrix = None
            if blocks.layout == "csc":
                matrix = stack.enter_context(_matrix(planned, uploads))
            shards = _shard_offsets(planned, exports, pool)
            for index in item.blocks:
                pending: list[Future[None]] = []
                write = _writer(exports, order.export_prefix, pool, pending)
                if matrix is not None:
                    bounds, cost = encode_gene_columns(
                        matrix, blocks, index, encoder, write, compression
                    )
                else:
                    keys = [order.shard_key(row_block) for row_block in range(len(shards))]
                    starts = [offsets[index] for offsets in shards]
                    stops = [offsets[index + 1] for offsets in shards]
                    sections = pool.map(exports.get_range, keys, starts, stops)
                    bounds, cost = encode_gene_block(
                        blocks, index, sections, encoder, write, compression
                    )
                for future in pending:
                    future.result()
                report = Report(
                    kind="genes",
                    index=index,
                    minimum=bounds.minimum.tolist(),
                    maximum=bounds.maximum.tolist(),
                    stored=bounds.stored.tolist(),
                    cost=Cost.of(cost),
                )
                exports.put(order.report_key("genes", index), report.model_dump_json().encode())
        except PrepareError as error:
            refuse(exports, order, str(error))
    return item.blocks


def _shard_offsets(
    planned: ExportPlanned, exports: Objects, pool: ThreadPoolExecutor
) -> list[list[int]]:
    """Where each gene block's section starts in each shard, from the row blocks' reports
    (none for a CSC X): a shard without its report is not complete."""
    order = planned.order
    rows = 0 if planned.blocks.layout == "csc" else planned.blocks.n_row_blocks

    def offsets(row_block: int) -> list[int]:
        data = exports.get(order.report_key("rows", row_block))
        return Report.model_validate_json(data).offsets

    return list(pool.map(offsets, range(rows)))


@contextmanager
def _matrix(planned: ExportPlanned, uploads: Objects) -> Iterator[MatrixBlocks]:
    order = planned.order
    ranges = uploads.ranges(order.upload_key, order.upload_etag)
    with open_upload(ranges, Path(order.file_name), check=False) as root:
        yield stored_matrix(root, planned.matrix)


def _writer(
    exports: Objects, prefix: str, pool: ThreadPoolExecutor, pending: list[Future[None]]
) -> Callable[[str, Any], None]:
    """Stores gene files on ``pool``; a payload is copied first (an uncompressed one is a
    view of the encoder's reused block)."""

    def write(name: str, data: Any) -> None:
        payload = bytes(memoryview(data).cast("B"))
        pending.append(pool.submit(exports.put, prefix + name, payload, create_only=True))

    return write
