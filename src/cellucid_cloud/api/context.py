"""What the API needs from its host (local stack or Lambda): built once, shared by routes."""

from __future__ import annotations

from dataclasses import dataclass

from cellucid_cloud.api.auth import Authenticator
from cellucid_cloud.catalog.meta import MetaService
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.core.ports import (
    LinkIngest,
    MultipartUploads,
    OriginalDownloads,
    Reprocessing,
    UploadUrls,
)
from cellucid_cloud.events.service import EventsService
from cellucid_cloud.http.bodies import MAX_BODY_BYTES

__all__ = ["ApiContext"]


@dataclass(frozen=True, slots=True)
class ApiContext:
    catalog: CatalogService
    meta: MetaService
    auth: Authenticator
    uploads: UploadUrls
    links: LinkIngest
    downloads: OriginalDownloads
    """Public datasets' uploaded originals (``GET /dp/v1/datasets/{id}/download``)."""
    reprocessing: Reprocessing | None = None
    """Processes an upload again after its export options changed; None where the host
    processes nothing (then options can change only before processing starts)."""
    multipart: MultipartUploads | None = None
    """Multipart uploads into the uploads store, for files too large for one PUT."""
    events: EventsService | None = None
    session_uploads: UploadUrls | None = None
    """Upload URLs into the sessions store, for bundles over the 5 MB direct limit."""
    """Viewer events and session bundles; None where a deployment serves them elsewhere."""
    mode: str = "local"
    """Reported by ``/_cellucid/info``: ``local`` (``up``) or ``aws``."""
    max_upload_bytes: int = 20 * 1024**3
    upload_url_expiry: int = 900
    max_body_bytes: int = MAX_BODY_BYTES
    allow_private_links: bool = False
    """Accept links to loopback/private hosts (a lab's own file server); off when hosted."""
