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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cachetools import TTLCache

from cellucid_cloud.catalog.documents import (
    CollectionDocument,
    CollectionLink,
    CollectionList,
    CollectionSummary,
    DatasetDocument,
    DatasetEntry,
    DatasetsJson,
    Deployment,
    Download,
    LiveAnswer,
    MetaAnswer,
    PublishedEntry,
    RefusedUpload,
    TombstoneAnswer,
)
from cellucid_cloud.catalog.models import (
    SCHEMA_FIELDS,
    Alias,
    Collection,
    CollectionVersion,
    Dataset,
    DatasetStats,
    DatasetStatus,
    DatasetVersion,
    Link,
    OntologyTerm,
    Visibility,
)
from cellucid_cloud.catalog.publishing import published_catalog, settled
from cellucid_cloud.catalog.service import CatalogService, CollectionView
from cellucid_cloud.catalog.urls import collection_page_url, explorer_id, explorer_url
from cellucid_cloud.core.errors import InvalidRequestError, NotFoundError
from cellucid_cloud.core.ports import ObjectStore, Timer

__all__ = ["Cached", "MetaService", "Original", "download_file_name", "public_reason"]


SERVER_FAILURE = "processing failed because of an error on the server, not in the file"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_SERVER_PATH = re.compile(
    r"(?<![\w.])/(?:tmp|var|home|root|work|opt|srv|mnt|usr|run|private|Users)/[^\s'\";,()]*"
)


def public_reason(version: DatasetVersion) -> str | None:
    """Why a version failed, fit for anyone holding its URL (the meta answer and the collection
    document say it alike): what is wrong with the file, with server paths and every id but
    the dataset's, its version's and its collection's taken out (a revision's id opens the
    whole private revision). A failure of ours says only that. None unless failed."""
    if version.status is not DatasetStatus.FAILED:
        return None
    if version.retryable or not version.reason:
        return SERVER_FAILURE
    shown = {version.dataset_id, version.collection_id, version.version_id}
    reason = _SERVER_PATH.sub("…", version.reason)
    return _UUID.sub(lambda match: match[0] if match[0] in shown else "…", reason)


@dataclass(frozen=True, slots=True)
class Cached[T]:
    """An answer and how many more seconds it may be reused."""

    value: T
    max_age: int


class _TtlCache[T]:
    """A thread-safe absolute-expiry cache that also reports the time left on an entry."""

    def __init__(self, ttl: float, clock: Timer, maxsize: int) -> None:
        self.ttl = ttl
        self.clock = clock
        self._cache: TTLCache[str, tuple[float, T]] | None = (
            TTLCache(maxsize=maxsize, ttl=ttl, timer=clock) if ttl > 0 else None
        )
        self._lock = threading.Lock()

    def get(self, key: str) -> Cached[T] | None:
        if self._cache is None:
            return None
        with self._lock:
            hit = self._cache.get(key)
        if hit is None:
            return None
        stored_at, value = hit
        return Cached(value, max(0, int(stored_at + self.ttl - self.clock())))

    def put(self, key: str, value: T) -> Cached[T]:
        if self._cache is not None:
            with self._lock:
                self._cache[key] = (self.clock(), value)
        return Cached(value, int(self.ttl))

    def clear(self) -> None:
        if self._cache is not None:
            with self._lock:
                self._cache.clear()


class MetaService:
    def __init__(
        self,
        catalog: CatalogService,
        store: ObjectStore,
        base_url: str,
        *,
        ttl: float = 60.0,
        miss_ttl: float = 5.0,
        clock: Timer,
        maxsize: int = 100_000,
    ) -> None:
        self._catalog = catalog
        self._repo = catalog.repo  # the documents are read from the catalog's own records
        self._store = store
        self.base_url = base_url.rstrip("/")
        self._hits: _TtlCache[MetaAnswer | None] = _TtlCache(ttl, clock, maxsize)
        self._misses: _TtlCache[MetaAnswer | None] = _TtlCache(min(miss_ttl, ttl), clock, maxsize)
        self._collections: _TtlCache[CollectionList] = _TtlCache(ttl, clock, 1)
        self._listing: _TtlCache[DatasetsJson[PublishedEntry] | None] = _TtlCache(ttl, clock, 1)

    def forget(self) -> None:
        """Drop every cached answer (after a SnapStart restore: entries stamped by the
        snapshot's clock would live on the restored one)."""
        for cache in (self._hits, self._misses, self._collections, self._listing):
            cache.clear()

    # -- meta --------------------------------------------------------------------------------

    def lookup(self, url: str) -> Cached[MetaAnswer | None]:
        """The meta answer for an explorer URL (value None: unknown, cached briefly)."""
        key = explorer_id(url)
        if key is None:
            raise InvalidRequestError(
                "url must be an explorer URL such as https://<host>/e/<dataset id>/ "
                "(its last path segment is the id)"
            )
        cached = self._hits.get(key) or self._misses.get(key)
        if cached is not None:
            return cached
        answer = self._resolve(key)
        return (self._hits if answer is not None else self._misses).put(key, answer)

    def _dataset(self, key: str) -> Dataset | None:
        """A dataset as the public sees it (a publish's staged mapping applied once that
        publish is in: :mod:`cellucid_cloud.catalog.publishing`)."""
        return settled(self._repo, self._repo.get(Dataset, key))

    def _resolve(self, key: str) -> MetaAnswer | None:
        dataset = self._dataset(key)
        if dataset is not None:
            return self._answer(dataset, dataset.version_id, explorer_key=key)
        version = self._repo.get(DatasetVersion, key)
        if version is not None:
            dataset = self._dataset(version.dataset_id)
            return None if dataset is None else self._answer(dataset, key, key, version)
        alias = self._repo.get(Alias, key)
        if alias is not None:
            dataset = self._dataset(alias.dataset_id)
            if dataset is not None:
                return self._answer(dataset, dataset.version_id, dataset.dataset_id)
        return None

    def _answer(
        self,
        dataset: Dataset,
        version_id: str,
        explorer_key: str,
        version: DatasetVersion | None = None,
    ) -> MetaAnswer:
        if dataset.tombstoned:
            return TombstoneAnswer(
                dataset_id=dataset.dataset_id,
                collection_id=dataset.collection_id,
                explorer_url=explorer_url(self.base_url, dataset.dataset_id),
                contact=dataset.tombstone_contact,
            )
        public = version_id in dataset.published_versions
        status, reason = DatasetStatus.READY, None
        if version_id == dataset.version_id and dataset.export_prefix:
            prefix: str | None = dataset.export_prefix  # the usual answer: one read did it all
        else:
            version = version or self._repo.get(DatasetVersion, version_id)
            status = version.status if version else DatasetStatus.WAITING
            prefix = version.export_prefix if version and status is DatasetStatus.READY else None
            reason = public_reason(version) if version else None
        location = self.export_location(prefix)
        return LiveAnswer(
            dataset_id=dataset.dataset_id,
            dataset_version_id=version_id,
            collection_id=dataset.collection_id if public else self._private_home(dataset),
            collection_visibility=Visibility.PUBLIC if public else Visibility.PRIVATE,
            explorer_url=explorer_url(self.base_url, explorer_key),
            explorer_s3_uri=location,
            s3_uri=location,
            export_url=f"{self.base_url}/{prefix}" if prefix else None,
            status=status,
            reason=reason,
        )

    def export_location(self, prefix: str | None) -> str | None:
        """Where an export lives, as the meta answer names it (``explorer_s3_uri`` and the
        portal's ``s3_uri``: one value, made here only)."""
        return self._store.uri(prefix) if prefix else None

    def _private_home(self, dataset: Dataset) -> str:
        """The collection id a private answer names: as the portal does, the open (unpublished)
        version's own id, so ``GET /dp/v1/collections/<it>`` shows the version the dataset is
        in. A canonical id of an unpublished collection shows nothing publicly."""
        collection = self._repo.get(Collection, dataset.collection_id)
        if collection is None or collection.open_version_id is None:
            return dataset.collection_id
        return collection.open_version_id

    # -- collections -------------------------------------------------------------------------

    def collection(self, collection_or_version_id: str) -> CollectionDocument:
        """A collection as the public sees it: a canonical id shows the published version (and
        nothing before the first publish); a version id shows that version (the id of an
        unpublished version is the capability to see it). Not cached: curators expect to see
        their own change at once, and it is not on the viewer's path."""
        view = self._catalog.version_for(collection_or_version_id)
        if (
            collection_or_version_id == view.collection.collection_id
            and not view.collection.is_published
        ):
            raise NotFoundError(f"no collection {collection_or_version_id}")
        return self.collection_document(view)

    def collection_document(
        self, view: CollectionView, *, curator: bool = False
    ) -> CollectionDocument:
        """The collection version's document; ``curator``: for its owner, whose datasets
        carry the full failure reasons (the public's: :func:`public_reason`)."""
        versions = self._catalog.dataset_versions(view)
        published = view.version.published_at is not None
        public_versions = self._public_versions(view)
        meta = view.version.metadata
        public_id = view.collection.collection_id if published else view.version.version_id
        return CollectionDocument(
            id=public_id,
            collection_id=view.collection.collection_id,
            collection_version_id=view.version.version_id,
            visibility=Visibility.PUBLIC if published else Visibility.PRIVATE,
            revision_of=view.collection.collection_id if view.is_revision else None,
            name=meta.name,
            description=meta.description,
            contact_name=meta.contact_name,
            contact_email=meta.contact_email,
            links=[_link(link) for link in meta.links],
            created_at=view.version.created_at.isoformat(),
            published_at=_iso(view.collection.published_at),
            revised_at=_iso(view.collection.revised_at),
            updated_at=(view.version.published_at or view.version.created_at).isoformat(),
            page_url=collection_page_url(self.base_url, public_id),
            datasets=[
                self.dataset_entry(view, dataset_id, version, public_versions, curator=curator)
                for dataset_id, version in versions.items()
            ],
        )

    def _public_versions(self, view: CollectionView) -> frozenset[str]:
        """The dataset versions the collection's current published version shows."""
        published_id = view.collection.published_version_id
        if published_id is None:
            return frozenset()
        if published_id == view.version.version_id:
            return frozenset(view.version.datasets.values())
        published = self._repo.get(CollectionVersion, published_id)
        return frozenset(published.datasets.values()) if published else frozenset()

    def dataset_entry(
        self,
        view: CollectionView,
        dataset_id: str,
        version: DatasetVersion,
        public_versions: frozenset[str] | None = None,
        *,
        curator: bool = False,
    ) -> DatasetEntry:
        """A dataset as a collection version lists it: canonical URLs, except in a revision,
        where each dataset is reached by its (private) version URL. The portal's names
        (``id``, ``cell_count``, ``dataset_deployments``, ``published``...) sit beside ours."""
        if public_versions is None:
            public_versions = self._public_versions(view)
        canonical = not view.is_revision
        ready = version.status is DatasetStatus.READY and version.export_prefix is not None
        url = explorer_url(self.base_url, dataset_id if canonical else version.version_id)
        stats = version.stats
        current = version.version_id in public_versions
        return DatasetEntry(
            id=dataset_id,
            dataset_id=dataset_id,
            dataset_version_id=version.version_id,
            name=stats.name if stats else version.name,
            n_cells=stats.n_cells if stats else None,
            n_genes=stats.n_genes if stats else None,
            cell_count=stats.n_cells if stats else None,
            status=version.status,
            reason=version.reason if curator else public_reason(version),
            explorer_url=url,
            export_url=f"{self.base_url}/{version.export_prefix}" if ready else None,
            dataset_deployments=[Deployment(url=url)] if ready else [],
            published=current or view.version.published_at is not None,
            **_terms(stats),
            download=self._download_entry(dataset_id, version) if current else None,
        )

    def dataset_version(self, version_id: str) -> DatasetVersion | None:
        return self._catalog.dataset_version(version_id)

    def dataset_document(self, view: CollectionView, version: DatasetVersion) -> DatasetDocument:
        """A dataset's version in ``view`` as its curator sees it (:class:`DatasetDocument`)."""
        entry = self.dataset_entry(view, version.dataset_id, version, curator=True)
        refused = self._catalog.refused_upload(version)
        return DatasetDocument(
            **dict(entry),
            collection_id=view.collection.collection_id,
            collection_version_id=view.version.version_id,
            refused_upload=None
            if refused is None
            else RefusedUpload(
                upload_id=refused.upload_id,
                file_name=refused.file_name,
                reason=refused.reason,
                refused_at=refused.at.isoformat(),
            ),
        )

    def _download_entry(self, dataset_id: str, version: DatasetVersion) -> Download | None:
        if version.source is None or version.status is not DatasetStatus.READY:
            return None
        return Download(
            url=f"{self.base_url}/dp/v1/datasets/{dataset_id}/download",
            file_name=download_file_name(version),
            size_bytes=version.stats.source_bytes if version.stats else None,
        )

    def collections(self) -> Cached[CollectionList]:
        """Every published collection, newest first (by first publication), with what the
        collections index shows: counts, cells and the schema terms of its datasets."""
        cached = self._collections.get("collections")
        if cached is not None:
            return cached
        listed = []
        for collection, version, datasets in self._published():
            ready = [dv.stats for dv in datasets.values() if dv.stats is not None]
            listed.append(
                CollectionSummary(
                    id=collection.collection_id,
                    name=version.metadata.name,
                    description=version.metadata.description,
                    contact_name=version.metadata.contact_name,
                    contact_email=version.metadata.contact_email,
                    published_at=_iso(collection.published_at),
                    revised_at=_iso(collection.revised_at),
                    dataset_count=len(datasets),
                    cell_count=sum(stats.n_cells for stats in ready),
                    page_url=collection_page_url(self.base_url, collection.collection_id),
                    **_union(ready),
                )
            )
        listed.sort(key=lambda c: (c.published_at or "", c.id), reverse=True)
        return self._collections.put("collections", CollectionList(collections=listed))

    # -- downloads ---------------------------------------------------------------------------

    def original(self, dataset_id: str) -> Original:
        """The uploaded file behind a public dataset's current version (never a private one:
        an unpublished, withdrawn or unknown dataset is a 404 alike)."""
        dataset = self._dataset(dataset_id)
        if (
            dataset is None
            or dataset.tombstoned
            or dataset.version_id not in dataset.published_versions
        ):
            raise NotFoundError(f"no public dataset {dataset_id}")
        version = self._repo.get(DatasetVersion, dataset.version_id)
        if version is None or version.source is None or version.source_etag is None:
            raise NotFoundError(f"dataset {dataset_id} has no original file to download")
        return Original(
            key=version.source,
            etag=version.source_etag,
            file_name=download_file_name(version),
        )

    # -- the public catalog ------------------------------------------------------------------

    def datasets_json(self) -> Cached[DatasetsJson[PublishedEntry] | None]:
        """The Cellucid ``datasets.json`` of every published dataset (paths relative to the
        server root, where exports live under ``exports/<dataset_version_id>/``); None when
        nothing is published (the web app's loader refuses an empty list)."""
        cached = self._listing.get("datasets.json")
        if cached is not None:
            return cached
        entries: list[PublishedEntry] = []
        for collection, version, datasets in self._published():
            for dataset_id, dv in datasets.items():
                if dv.export_prefix is None or dv.stats is None:
                    continue
                entries.append(
                    PublishedEntry(
                        id=dataset_id,
                        path=dv.export_prefix,
                        name=dv.stats.name,
                        description=version.metadata.name,
                        n_cells=dv.stats.n_cells,
                        n_genes=dv.stats.n_genes,
                        collection_id=collection.collection_id,
                    )
                )
        document = DatasetsJson.listing(entries) if entries else None
        return self._listing.put("datasets.json", document)

    def _published(self) -> list[tuple[Collection, CollectionVersion, dict[str, DatasetVersion]]]:
        """Every published collection with its published version and that version's datasets,
        as the last publish left them (the :class:`PublishedCatalog` it switched: a snapshot,
        whatever the store's indexes show yet). Published versions and ready dataset versions
        never change, so every part of the answer is of that one state."""
        published = published_catalog(self._repo).collections
        collections = self._repo.get_many(Collection, published)
        versions = self._repo.get_many(CollectionVersion, published.values())
        found = []
        for collection_id, version_id in sorted(published.items()):
            collection, version = collections.get(collection_id), versions.get(version_id)
            if collection is None or version is None:
                continue
            dataset_versions = self._repo.get_many(DatasetVersion, version.datasets.values())
            datasets = {
                dataset_id: dataset_versions[dataset_version_id]
                for dataset_id, dataset_version_id in version.datasets.items()
                if dataset_version_id in dataset_versions
            }
            found.append((collection, version, datasets))
        return found


@dataclass(frozen=True, slots=True)
class Original:
    """An uploaded file to hand out: its object key, the identity it must still have (a later
    upload to the same key must never be served as this version's) and its name."""

    key: str
    etag: str
    file_name: str


def download_file_name(version: DatasetVersion) -> str:
    """``<dataset name>.<upload format>``, reduced to characters every browser and file system
    keeps (the dataset id when the name has none of them)."""
    suffix = ".zarr.zip" if (version.source or "").endswith(".zarr.zip") else ".h5ad"
    name = version.stats.name if version.stats else version.name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:100]
    return (stem or version.dataset_id) + suffix


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _link(link: Link) -> CollectionLink:
    url = str(link.url)
    return CollectionLink(
        name=link.name,
        type=link.type,
        url=url,
        link_name=link.name,
        link_type=link.type,
        link_url=url,
    )


def _terms(stats: DatasetStats | None) -> dict[str, tuple[OntologyTerm, ...]]:
    """A dataset's schema terms, field by field, as its file lists them."""
    return {field: getattr(stats, field) if stats else () for field in SCHEMA_FIELDS}


def _union(stats: Iterable[DatasetStats]) -> dict[str, tuple[OntologyTerm, ...]]:
    """Several datasets' schema terms, field by field: each term once, sorted."""
    listed = list(stats)
    return {
        field: tuple(
            sorted(
                {term for one in listed for term in getattr(one, field)},
                key=lambda t: (t.label, t.ontology_term_id),
            )
        )
        for field in SCHEMA_FIELDS
    }
