"""The distributed export's step functions: Lambda events in, the steps' results out.

Each state of the state machine (template.yaml, ``ExportStateMachine``) invokes one function
with the state as its event: Plan and Finalize get ``{"order": WorkOrder, ...}``, the block
functions one map item (:class:`~cellucid_cloud.distributed.work.BlockItem`). The logic is in
:mod:`cellucid_cloud.distributed`.
"""

from __future__ import annotations

import functools
from typing import Any

from cellucid_cloud.aws.config import ExportStepSettings
from cellucid_cloud.aws.services import aws_ports
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.core.ports import Objects
from cellucid_cloud.core.services import build_services
from cellucid_cloud.distributed.block_steps import gene_blocks_step, row_blocks_step
from cellucid_cloud.distributed.finalize import finalize_step
from cellucid_cloud.distributed.plan import plan_step
from cellucid_cloud.distributed.work import BlockItem, WorkOrder
from cellucid_cloud.storage.s3 import s3_client
from cellucid_cloud.storage.s3_objects import S3Objects

__all__ = ["ExportSteps", "export_steps"]


class ExportSteps:
    def __init__(
        self, uploads: Objects, exports: Objects, catalog: CatalogService, block_memory: int
    ) -> None:
        self.uploads = uploads
        self.exports = exports
        self.catalog = catalog
        self.block_memory = block_memory

    def plan(self, event: dict[str, Any]) -> dict[str, Any]:
        order = WorkOrder.model_validate(event["order"])
        outcome = plan_step(order, self.uploads, self.exports, block_memory=self.block_memory)
        return outcome.model_dump()

    def row_blocks(self, event: dict[str, Any]) -> list[int]:
        return row_blocks_step(BlockItem.model_validate(event), self.uploads, self.exports)

    def gene_blocks(self, event: dict[str, Any]) -> list[int]:
        return gene_blocks_step(BlockItem.model_validate(event), self.uploads, self.exports)

    def finalize(self, event: dict[str, Any]) -> dict[str, Any]:
        order = WorkOrder.model_validate(event["order"])
        result = finalize_step(order, self.exports, self.catalog, event.get("failure"))
        return result.model_dump()


@functools.cache
def export_steps() -> ExportSteps:
    settings = ExportStepSettings.from_env()
    s3 = s3_client()
    return ExportSteps(
        S3Objects(settings.uploads_bucket, s3),
        S3Objects(settings.exports_bucket, s3),
        build_services(aws_ports(settings)).catalog,
        settings.block_memory_mb << 20,
    )
