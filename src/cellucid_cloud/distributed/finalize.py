"""Finalize: the last step of the distributed export, which alone writes manifests.

It does not trust the map runs' status (a failed child may leave its slot empty rather than
fail the run): it checks that every planned block reported, and that the files stored under
the attempt's export prefix are exactly those the manifests declare. Only then does it write
the manifests, last, and commit the version by the catalog's conditional write, which holds
only while the version is still processing under this attempt's claim. Otherwise the version
fails: with the file's fault, for good; with ours (a block that never reported, a stray
file), retryable, and the next claim writes to a fresh prefix. The attempt's partial export
is removed (nothing points to it) and so is its work prefix, whatever the outcome.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from cellucid_cloud.catalog.processing import export_stats, reason_line, refusal_reason
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.core.errors import StaleClaimError
from cellucid_cloud.core.ports import Objects
from cellucid_cloud.export.gene_encoder import GeneBounds
from cellucid_cloud.export.layout import ExportManifests
from cellucid_cloud.export.manifests import (
    IDENTITY_FILE,
    VAR_MANIFEST_FILE,
    DatasetIdentity,
)
from cellucid_cloud.export.outline import manifest_documents, var_manifest

from .plan import Planned
from .work import BlockKind, ExportPlanned, Refusal, Report, WorkOrder

__all__ = ["Finalized", "IncompleteExportError", "finalize_step"]

log = logging.getLogger(__name__)


class IncompleteExportError(Exception):
    """The stored export is not the whole of what was planned."""


class Finalized(BaseModel):
    """Finalize's result, the execution's output."""

    version_id: str
    status: Literal["ready", "failed", "superseded"]
    export_prefix: str | None = None
    reason: str | None = None


def finalize_step(
    order: WorkOrder, exports: Objects, catalog: CatalogService, failure: Any = None
) -> Finalized:
    """Check, publish and record ``order``'s export; ``failure`` is what the state machine
    caught on the way, if anything (it only words the reason)."""
    try:
        return _finalize(order, exports, catalog, failure)
    finally:
        exports.delete_prefix(order.work_prefix)


def _finalize(
    order: WorkOrder, exports: Objects, catalog: CatalogService, failure: Any
) -> Finalized:
    try:
        refusal = Refusal.model_validate_json(exports.get(order.refusal_key))
    except FileNotFoundError:
        refusal = None
    if refusal is not None:
        return _fail(order, exports, catalog, refusal_reason(order.file_name, refusal.reason))
    try:
        documents, size = _checked(order, exports)
    except (IncompleteExportError, FileNotFoundError) as error:
        cause = f"; the state machine caught {_cause(failure)}" if failure else ""
        reason = reason_line(f"internal error while processing: {error}{cause}")
        return _fail(order, exports, catalog, reason, retryable=True)
    for name, data in documents.items():
        exports.put(order.export_prefix + name, data, create_only=True)
    identity = DatasetIdentity.model_validate_json(documents[IDENTITY_FILE])
    try:
        catalog.finish_processing(
            order.version_id,
            export_prefix=order.export_prefix,
            stats=export_stats(identity, size, order.upload_size),
            etag=order.upload_etag,
            attempt=order.attempt,
        )
    except StaleClaimError as error:
        log.warning("%s; %s discarded", error, order.export_prefix)
        exports.delete_prefix(order.export_prefix)
        return Finalized(version_id=order.version_id, status="superseded", reason=str(error))
    log.info("version %s ready at %s", order.version_id, order.export_prefix)
    return Finalized(version_id=order.version_id, status="ready", export_prefix=order.export_prefix)


def _fail(
    order: WorkOrder,
    exports: Objects,
    catalog: CatalogService,
    reason: str,
    *,
    retryable: bool = False,
) -> Finalized:
    exports.delete_prefix(order.export_prefix)
    try:
        catalog.finish_processing(
            order.version_id, reason=reason, retryable=retryable, attempt=order.attempt
        )
    except StaleClaimError as error:
        return Finalized(version_id=order.version_id, status="superseded", reason=str(error))
    log.info("version %s failed: %s", order.version_id, reason)
    return Finalized(version_id=order.version_id, status="failed", reason=reason)


def _cause(failure: Any) -> str:
    if isinstance(failure, dict):
        return str(failure.get("Error") or failure)
    return str(failure)


def _checked(order: WorkOrder, exports: Objects) -> tuple[dict[str, bytes], int]:
    """The manifests to write, after checking the stored payloads against them, and the
    export's size."""
    try:
        planned = Planned.model_validate_json(exports.get(order.manifests_key))
    except FileNotFoundError:
        raise IncompleteExportError("the plan did not finish") from None
    documents = {name: text.encode() for name, text in planned.documents.items()}
    manifests = ExportManifests.from_documents(documents)  # var comes from the reports
    if planned.names is not None:
        blocks = ExportPlanned.model_validate_json(exports.get(order.plan_key)).blocks
        reported = exports.sizes(order.reports_prefix())
        if blocks.layout != "csc":
            _all_reported(order, reported, "rows", blocks.n_row_blocks)
        _all_reported(order, reported, "genes", blocks.n_gene_blocks)
        bounds = GeneBounds.empty(blocks.n_genes)
        for index in range(blocks.n_gene_blocks):
            report = Report.model_validate_json(exports.get(order.report_key("genes", index)))
            first, last = blocks.genes(report.index)
            bounds.minimum[first:last] = report.minimum
            bounds.maximum[first:last] = report.maximum
            bounds.stored[first:last] = np.asarray(report.stored, np.int64)
        var = var_manifest(order.settings, planned.names, bounds, planned.n_cells)
        manifests = ExportManifests(manifests.identity, manifests.obs, var, manifests.connectivity)
        documents[VAR_MANIFEST_FILE] = manifest_documents(manifests)[VAR_MANIFEST_FILE]
    stored = {
        key.removeprefix(order.export_prefix): size
        for key, size in exports.sizes(order.export_prefix).items()
    }
    payloads = manifests.declared_paths() - set(documents)
    if set(stored) != payloads:
        differ = sorted(set(stored) ^ payloads)
        raise IncompleteExportError(
            f"the stored files are not those the manifests declare ({len(differ)} differ, "
            f"e.g. {', '.join(differ[:3])})"
        )
    return documents, sum(stored.values()) + sum(len(data) for data in documents.values())


def _all_reported(order: WorkOrder, reported: dict[str, int], kind: BlockKind, count: int) -> None:
    """Every planned block of one kind stored its report (``reported``: the keys under the
    reports prefix); a missing one did not finish, whatever the map run said."""
    missing = [i for i in range(count) if order.report_key(kind, i) not in reported]
    if missing:
        raise IncompleteExportError(
            f"{len(missing)} of {count} {'row' if kind == 'rows' else 'gene'} blocks did not "
            f"report (e.g. block {missing[0]})"
        )
