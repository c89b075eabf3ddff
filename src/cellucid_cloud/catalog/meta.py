"""Public lookups: explorer URL → dataset (the meta API), collections, the public catalog.

Answers are cached in-process with *absolute* expiry (cachetools ``TTLCache``: an entry dies
``ttl`` seconds after it was stored, however often it is read — the reference explorer's cache
slid on every hit, so a popular dataset never refreshed). Misses are cached for a short time
only, and errors never (an exception stores nothing). Every answer carries its remaining
lifetime, which the HTTP layer turns into ``max-age``: the total staleness a client can see
after a publish stays within the configured TTL, caches downstream included.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from cellucid_cloud.catalog.errors import InvalidRequestError
from cellucid_cloud.catalog.models import (
    Alias,
    Collection,
    CollectionVersion,
    Dataset,
    DatasetStatus,
    DatasetVersion,
    Visibility,
)
from cellucid_cloud.catalog.repository import CatalogRepository
from cellucid_cloud.catalog.service import CatalogService, CollectionView
from cellucid_cloud.catalog.urls import explorer_id, explorer_url
from cellucid_cloud.storage.object_store import ObjectStore

__all__ = ["Cached", "MetaService", "public_reason"]

Clock = Callable[[], float]
Document = dict[str, Any]

SERVER_FAILURE = "processing failed because of an error on the server, not in the file"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_SERVER_PATH = re.compile(
    r"(?<![\w.])/(?:tmp|var|home|root|work|opt|srv|mnt|usr|run|private|Users)/[^\s'\";,()]*"
)


def public_reason(version: DatasetVersion, dataset: Dataset) -> str:
    """Why a version failed, fit for anyone holding its URL: what is wrong with the file, with
    server paths and every id but the dataset's and its collection's taken out (a revision's
    id opens the whole private revision). A failure of ours says only that."""
    if version.retryable or not version.reason:
        return SERVER_FAILURE
    shown = {dataset.dataset_id, dataset.collection_id, version.version_id}
    reason = _SERVER_PATH.sub("…", version.reason)
    return _UUID.sub(lambda match: match[0] if match[0] in shown else "…", reason)


@dataclass(frozen=True, slots=True)
class Cached:
    """An answer (None: not found) and how many more seconds it may be reused."""

    value: Document | None
    max_age: int


class _TtlCache:
    """A thread-safe absolute-expiry cache that also reports the time left on an entry."""

    def __init__(self, ttl: float, clock: Clock, maxsize: int) -> None:
        self.ttl = ttl
        self.clock = clock
        self._cache: TTLCache[str, tuple[float, Document | None]] | None = (
            TTLCache(maxsize=maxsize, ttl=ttl, timer=clock) if ttl > 0 else None
        )
        self._lock = threading.Lock()

    def get(self, key: str) -> Cached | None:
        if self._cache is None:
            return None
        with self._lock:
            hit = self._cache.get(key)
        if hit is None:
            return None
        stored_at, value = hit
        return Cached(value, max(0, int(stored_at + self.ttl - self.clock())))

    def put(self, key: str, value: Document | None) -> Cached:
        if self._cache is not None:
            with self._lock:
                self._cache[key] = (self.clock(), value)
        return Cached(value, int(self.ttl))


class MetaService:
    def __init__(
        self,
        repository: CatalogRepository,
        store: ObjectStore,
        base_url: str,
        *,
        ttl: float = 60.0,
        miss_ttl: float = 5.0,
        clock: Clock,
        maxsize: int = 100_000,
    ) -> None:
        self.repo = repository
        self.store = store
        self.base_url = base_url.rstrip("/")
        self.catalog = CatalogService(repository)
        self._hits = _TtlCache(ttl, clock, maxsize)
        self._misses = _TtlCache(min(miss_ttl, ttl), clock, maxsize)
        self._documents = _TtlCache(ttl, clock, 64)

    # -- meta --------------------------------------------------------------------------------

    def lookup(self, url: str) -> Cached:
        """The meta answer for an explorer URL (value None: unknown, cached briefly)."""
        key = explorer_id(url)
        if key is None:
            raise InvalidRequestError(
                "url must be an explorer URL such as https://<host>/e/<dataset id>/ "
                "(one id segment after /e/)"
            )
        cached = self._hits.get(key) or self._misses.get(key)
        if cached is not None:
            return cached
        answer = self._resolve(key)
        return (self._hits if answer is not None else self._misses).put(key, answer)

    def _resolve(self, key: str) -> Document | None:
        dataset = self.repo.get(Dataset, key)
        if dataset is not None:
            return self._answer(dataset, dataset.version_id, explorer_key=key)
        version = self.repo.get(DatasetVersion, key)
        if version is not None:
            dataset = self.repo.get(Dataset, version.dataset_id)
            return None if dataset is None else self._answer(dataset, key, key, version)
        alias = self.repo.get(Alias, key)
        if alias is not None:
            dataset = self.repo.get(Dataset, alias.dataset_id)
            if dataset is not None:
                return self._answer(dataset, dataset.version_id, dataset.dataset_id)
        return None

    def _answer(
        self,
        dataset: Dataset,
        version_id: str,
        explorer_key: str,
        version: DatasetVersion | None = None,
    ) -> Document:
        visibility = (
            Visibility.PUBLIC if version_id in dataset.published_versions else Visibility.PRIVATE
        )
        if dataset.tombstoned:
            contact = dataset.tombstone_contact
            return {
                "dataset_id": dataset.dataset_id,
                "collection_id": dataset.collection_id,
                "collection_visibility": Visibility.PUBLIC.value,
                "explorer_url": explorer_url(self.base_url, dataset.dataset_id),
                "tombstoned": True,
                "contact": contact.model_dump() if contact else None,
            }
        status, reason = DatasetStatus.READY, None
        if version_id == dataset.version_id and dataset.export_prefix:
            prefix: str | None = dataset.export_prefix  # the usual answer: one read did it all
        else:
            version = version or self.repo.get(DatasetVersion, version_id)
            status = version.status if version else DatasetStatus.WAITING
            prefix = version.export_prefix if version and status is DatasetStatus.READY else None
            if version and status is DatasetStatus.FAILED:
                reason = public_reason(version, dataset)
        return {
            "dataset_id": dataset.dataset_id,
            "dataset_version_id": version_id,
            "collection_id": dataset.collection_id,
            "collection_visibility": visibility.value,
            "explorer_url": explorer_url(self.base_url, explorer_key),
            "explorer_s3_uri": self.store.uri(prefix) if prefix else None,
            "export_url": f"{self.base_url}/{prefix}" if prefix else None,
            "tombstoned": False,
            "status": status.value,
            "reason": reason,
        }

    # -- collections -------------------------------------------------------------------------

    def collection(self, collection_or_version_id: str) -> Document:
        """A collection as its public id or private version id shows it (not cached: curators
        expect to see their own change at once, and it is not on the viewer's path)."""
        view = self.catalog.version_for(collection_or_version_id)
        return self.collection_document(view)

    def collection_document(self, view: CollectionView) -> Document:
        versions = self.catalog.dataset_versions(view)
        published = view.version.published_at is not None
        meta = view.version.metadata
        return {
            "collection_id": view.collection.collection_id,
            "collection_version_id": view.version.version_id,
            "visibility": (Visibility.PUBLIC if published else Visibility.PRIVATE).value,
            "revision_of": view.collection.collection_id if view.is_revision else None,
            "name": meta.name,
            "description": meta.description,
            "contact_name": meta.contact_name,
            "contact_email": meta.contact_email,
            "links": [link.model_dump(mode="json") for link in meta.links],
            "created_at": view.version.created_at.isoformat(),
            "published_at": view.collection.published_at.isoformat()
            if view.collection.published_at
            else None,
            "revised_at": view.collection.revised_at.isoformat()
            if view.collection.revised_at
            else None,
            "datasets": [
                self.dataset_entry(view, dataset_id, version)
                for dataset_id, version in versions.items()
            ],
        }

    def dataset_entry(
        self, view: CollectionView, dataset_id: str, version: DatasetVersion
    ) -> Document:
        """A dataset as a collection version lists it: canonical URLs, except in a revision,
        where each dataset is reached by its (private) version URL."""
        canonical = not view.is_revision
        ready = version.status is DatasetStatus.READY and version.export_prefix
        return {
            "dataset_id": dataset_id,
            "dataset_version_id": version.version_id,
            "name": version.stats.name if version.stats else version.name,
            "n_cells": version.stats.n_cells if version.stats else None,
            "n_genes": version.stats.n_genes if version.stats else None,
            "status": version.status.value,
            "reason": version.reason,
            "explorer_url": explorer_url(
                self.base_url, dataset_id if canonical else version.version_id
            ),
            "export_url": f"{self.base_url}/{version.export_prefix}" if ready else None,
        }

    # -- the public catalog ------------------------------------------------------------------

    def datasets_json(self) -> Cached:
        """The Cellucid ``datasets.json`` of every published dataset (paths relative to the
        server root, where exports live under ``exports/<dataset_version_id>/``)."""
        cached = self._documents.get("datasets.json")
        if cached is not None:
            return cached
        entries: list[Document] = []
        for collection in self.repo.published_collections():
            entries += self._published_entries(collection)
        entries.sort(key=lambda e: str(e["id"]))
        document: Document = {
            "version": 1,
            "default": entries[0]["id"] if entries else None,
            "datasets": entries,
        }
        return self._documents.put("datasets.json", document)

    def _published_entries(self, collection: Collection) -> list[Document]:
        if collection.published_version_id is None:
            return []
        version = self.repo.get(CollectionVersion, collection.published_version_id)
        if version is None:
            return []
        versions = self.repo.get_many(DatasetVersion, version.datasets.values())
        entries = []
        for dataset_id, version_id in version.datasets.items():
            dv = versions.get(version_id)
            if dv is None or dv.export_prefix is None or dv.stats is None:
                continue
            entries.append(
                {
                    "id": dataset_id,
                    "path": dv.export_prefix,
                    "name": dv.stats.name,
                    "description": version.metadata.name,
                    "n_cells": dv.stats.n_cells,
                    "n_genes": dv.stats.n_genes,
                    "collection_id": collection.collection_id,
                }
            )
        return entries
