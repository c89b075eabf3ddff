"""The local stack's link ingestion: download in a background thread, then process."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cellucid_cloud.catalog.processing import link_failed
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.storage.link_fetch import LinkError, fetch_link

__all__ = ["LocalLinkIngest"]


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
            link_failed(self.catalog, key, link, str(exc))
            return
        self.on_upload(key)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
