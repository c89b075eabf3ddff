"""What the steps of one distributed export hand each other, and where they keep it.

The prepare function writes a :class:`WorkOrder` as the state machine's input. Every step
reads what it needs from the attempt's work prefix (``work/<version id>-<attempt>/`` in the
exports bucket, which CloudFront does not serve) and writes its results there: the plan, the
map items, one spill shard per row block, and one report per block. Payloads go straight to
the attempt's export prefix; only Finalize writes the manifests, last.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from cellucid_cloud.export.blocks import BlockCost, BlockPlan
from cellucid_cloud.export.matrix_files import MatrixLocation
from cellucid_cloud.export.settings import ExportSettings

__all__ = ["BlockItem", "Cost", "ExportPlanned", "Refusal", "Report", "WorkOrder"]

BlockKind = Literal["rows", "genes"]

WORK_ROOT: Final = "work/"


class WorkOrder(BaseModel):
    """One attempt at one version's export: the state machine's input."""

    model_config = ConfigDict(frozen=True)

    version_id: str
    attempt: int
    upload_key: str
    upload_etag: str
    upload_size: int
    upload_modified: datetime
    file_name: str
    """What messages call the upload (the curator's file name)."""
    export_prefix: str
    settings: ExportSettings

    @property
    def work_prefix(self) -> str:
        return f"{WORK_ROOT}{self.version_id}-{self.attempt}/"

    @property
    def plan_key(self) -> str:
        return self.work_prefix + "plan.json"

    @property
    def manifests_key(self) -> str:
        return self.work_prefix + "manifests.json"

    @property
    def refusal_key(self) -> str:
        return self.work_prefix + "refused.json"

    def items_key(self, kind: BlockKind) -> str:
        return f"{self.work_prefix}items-{kind}.json"

    def shard_key(self, index: int) -> str:
        return f"{self.work_prefix}shards/{index}"

    def report_key(self, kind: BlockKind, index: int) -> str:
        return f"{self.work_prefix}reports/{kind}-{index}.json"

    def reports_prefix(self) -> str:
        return self.work_prefix + "reports/"


class ExportPlanned(BaseModel):
    """What the block steps need: the order, the blocks, where X is and how to encode."""

    order: WorkOrder
    blocks: BlockPlan
    matrix: MatrixLocation


class BlockItem(BaseModel):
    """One item of a map: some blocks of one kind, done one after the other by one function
    (the items are batched here: Step Functions' ItemBatcher is not needed)."""

    plan: str
    """The key of the plan in the exports bucket."""
    blocks: list[int]


class Cost(BaseModel):
    """A block's :class:`~cellucid_cloud.export.blocks.BlockCost`, as a report carries it."""

    entries: int
    bytes_in: int
    bytes_out: int
    seconds: dict[str, float]

    @classmethod
    def of(cls, cost: BlockCost) -> Cost:
        return cls(
            entries=cost.entries,
            bytes_in=cost.bytes_in,
            bytes_out=cost.bytes_out,
            seconds=cost.seconds,
        )


class Report(BaseModel):
    """What a finished block stored: a row block's shard section offsets, a gene block's
    genes' bounds (their files are under the export prefix)."""

    kind: BlockKind
    index: int
    offsets: list[int] = []
    minimum: list[float] = []
    maximum: list[float] = []
    stored: list[int] = []
    cost: Cost


class Refusal(BaseModel):
    """A step found the file unusable: the version fails with this reason, not retried."""

    reason: str


def items(plan_key: str, n_blocks: int, per_item: int) -> list[dict[str, Any]]:
    """The map's items: blocks ``0..n_blocks-1`` in runs of ``per_item``."""
    return [
        BlockItem(
            plan=plan_key, blocks=list(range(first, min(first + per_item, n_blocks)))
        ).model_dump(mode="json")
        for first in range(0, n_blocks, per_item)
    ]
