"""The local stack's link ingestion: download in a background thread, then process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cellucid_cloud.catalog.processing import UploadKey
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.storage.link_fetch import LinkError, fetch_link

__all__ = ["LocalLinkIngest"]

log = logging.getLogger(__name__)


class LocalLinkIngest:
    def __init__(
        self,
        catalog: CatalogService,
        uploads_dir: Path,
        on_upload: Callable[[str], None],
        *,
        max_bytes: int,
        allow_private: bool = False,
    ) -> None:
        self.catalog = catalog
        self.uploads_dir = uploads_dir
        self.on_upload = on_upload
        self.max_bytes = max_bytes
        self.allow_private = allow_private
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="link-ingest")

    def ingest(self, link: str, key: str) -> None:
        self._pool.submit(self._fetch, link, key)

    def _fetch(self, link: str, key: str) -> None:
        target = self.uploads_dir / key
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fetch_link(link, target, max_bytes=self.max_bytes, allow_private=self.allow_private)
        except LinkError as exc:
            parsed = UploadKey.parse(key)
            upload = self.catalog.upload(parsed.upload_id) if parsed and parsed.upload_id else None
            if upload is not None:
                self.catalog.fail_upload(upload, f"{exc} ({link})")
            log.info("link %s for %s failed: %s", link, key, exc)
            return
        self.on_upload(key)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
