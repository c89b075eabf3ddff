"""Publishing a collection version of any size, atomically, in commits of at most
:data:`~cellucid_cloud.catalog.repository.MAX_WRITES` writes (DynamoDB's transaction limit).

A publish is three steps:

1. **stage**: every dataset the publish maps, re-points or withdraws gets the mapping it will
   have (:class:`~cellucid_cloud.catalog.models.StagedMapping`, tagged with the collection
   version), in commits of at most 100 datasets. Readers do not apply a mapping whose version
   is not published, so the public still sees the previous state.
2. **switch**: one commit of the collection (its published version: the pointer), the version
   itself (``published_at``) and the :class:`~cellucid_cloud.catalog.models.PublishedCatalog`,
   each conditional on the revision read. Of two concurrent publishes one switches, the other
   gets 409; a version changed since it was read (an upload) fails the publish whole.
3. **settle**: each staged dataset gets its mapping applied and the mapping removed, again in
   commits of at most 100.

Until a dataset is settled, a reader that meets a staged mapping reads the collection version
it names (:func:`settled`): published, the mapping applies; not, it is ignored. A crash before
the switch leaves only ignored mappings, which the next publish overwrites; a crash after it
leaves mappings every reader applies (one more read each) until the collection's next publish
settles them. The canonical meta lookup stays one read of the dataset otherwise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime

from cellucid_cloud.catalog.models import (
    Collection,
    CollectionVersion,
    Contact,
    Dataset,
    DatasetVersion,
    PublishedCatalog,
    StagedMapping,
)
from cellucid_cloud.catalog.repository import (
    MAX_WRITES,
    ConflictError,
    Put,
    Write,
    retry_on_conflict,
)
from cellucid_cloud.core.errors import StateConflictError
from cellucid_cloud.core.ports import CatalogRepository

__all__ = ["ATTEMPTS", "publish_version", "published_catalog", "settled", "settled_many"]

ATTEMPTS = 5
"""How often a batch of staging or settling writes is read again and retried when another
writer changed one of its datasets meanwhile."""


def settled(repo: CatalogRepository, dataset: Dataset | None) -> Dataset | None:
    """``dataset`` as readers must see it: its staged mapping applied if that mapping's
    collection version is published, dropped if not."""
    if dataset is None or dataset.staged is None:
        return dataset
    return settled_many(repo, {dataset.dataset_id: dataset})[dataset.dataset_id]


def settled_many(repo: CatalogRepository, datasets: dict[str, Dataset]) -> dict[str, Dataset]:
    """:func:`settled` for many datasets, reading each staged collection version once."""
    staged = {d.staged.collection_version_id for d in datasets.values() if d.staged is not None}
    if not staged:
        return datasets
    versions = repo.get_many(CollectionVersion, staged)
    published = {key for key, version in versions.items() if version.published_at is not None}
    return {key: _settle(dataset, published) for key, dataset in datasets.items()}


def _settle(dataset: Dataset, published: set[str]) -> Dataset:
    if dataset.staged is None:
        return dataset
    if dataset.staged.collection_version_id in published:
        return dataset.with_staged_applied()
    return dataset.model_copy(update={"staged": None})


def published_catalog(repo: CatalogRepository) -> PublishedCatalog:
    """The published version of every collection, as the last publish left it. A catalog
    from before this record existed gets it from the published collections' own records."""
    stored = repo.get(PublishedCatalog, PublishedCatalog().name)
    if stored is not None:
        return stored
    listed = {
        c.collection_id: c.published_version_id
        for c in repo.published_collections()
        if c.published_version_id is not None
    }
    return PublishedCatalog(collections=listed)


def publish_version(
    repo: CatalogRepository,
    collection: Collection,
    version: CollectionVersion,
    versions: dict[str, DatasetVersion],
    previous: CollectionVersion | None,
    now: datetime,
) -> tuple[Collection, CollectionVersion]:
    """Publish ``version`` (open, every dataset ready: ``versions``) in place of ``previous``,
    withdrawing the datasets only that one had (module docstring). The collection and version
    as stored after the switch."""
    removed = sorted(set(previous.datasets) - set(version.datasets)) if previous else []
    earlier = previous.withdrawn if previous else ()  # settled here if that publish stopped
    contact = version.metadata.contact
    staged: list[str] = []
    for chunk in _chunks([*version.datasets, *removed, *earlier]):
        staged += _stage(repo, chunk, version, versions, contact)
    published_version = version.model_copy(
        update={"published_at": now, "withdrawn": tuple(removed)}
    )
    switched = collection.model_copy(
        update={
            "published_version_id": version.version_id,
            "open_version_id": None,
            "published_at": collection.published_at or now,
            "revised_at": now if collection.is_published else None,
        }
    )
    _switch(repo, switched, published_version)
    for chunk in _chunks(staged):
        _settle_staged(repo, chunk, version.version_id)
    return _stored(switched), _stored(published_version)


def _stage(
    repo: CatalogRepository,
    dataset_ids: list[str],
    version: CollectionVersion,
    versions: dict[str, DatasetVersion],
    contact: Contact,
) -> list[str]:
    """Write the mappings of one batch of datasets; the ids that got one."""

    def once() -> list[str]:
        stored = repo.get_many(Dataset, dataset_ids)
        current = settled_many(repo, stored)
        writes: list[Write] = []
        staged: list[str] = []
        for dataset_id in dataset_ids:
            dataset = current.get(dataset_id)
            if dataset is None:
                raise StateConflictError(f"dataset {dataset_id} disappeared; retry")
            mapping = _mapping(dataset, version, versions, contact)
            if mapping is not None:
                writes.append(Put(dataset.model_copy(update={"staged": mapping})))
                staged.append(dataset_id)
            elif stored[dataset_id].staged is not None:  # a finished publish's, unsettled
                writes.append(Put(dataset))
        repo.commit(writes)
        return staged

    return retry_on_conflict(
        once,
        attempts=ATTEMPTS,
        gave_up="the collection's datasets kept changing while publishing; retry",
    )


def _mapping(
    dataset: Dataset,
    version: CollectionVersion,
    versions: dict[str, DatasetVersion],
    contact: Contact,
) -> StagedMapping | None:
    """The mapping this publish gives ``dataset``, or None if it already has it."""
    version_id = version.datasets.get(dataset.dataset_id)
    if version_id is None:  # withdrawn now, or by an earlier publish
        if dataset.tombstoned:
            return None
        return StagedMapping(
            collection_version_id=version.version_id,
            version_id=dataset.version_id,
            export_prefix=dataset.export_prefix,
            tombstoned=True,
            tombstone_contact=contact,
        )
    if dataset.published and dataset.version_id == version_id:
        return None
    return StagedMapping(
        collection_version_id=version.version_id,
        version_id=version_id,
        export_prefix=versions[dataset.dataset_id].export_prefix,
    )


def _switch(repo: CatalogRepository, collection: Collection, version: CollectionVersion) -> None:
    """The one commit that makes the publish visible."""

    def once() -> None:
        catalog = published_catalog(repo)
        listed = {**catalog.collections, collection.collection_id: version.version_id}
        head = catalog.model_copy(update={"collections": listed})
        try:
            repo.commit([Put(collection), Put(version), Put(head, create=head.rev == 0)])
        except ConflictError as exc:
            if _still_ours(repo, collection, version):
                raise  # only the catalog record moved: another collection's publish
            raise StateConflictError(
                "the collection changed while this request ran (another request won); "
                "read it again and retry"
            ) from exc

    retry_on_conflict(
        once, attempts=ATTEMPTS, gave_up="other publishes kept the catalog busy; retry"
    )


def _still_ours(
    repo: CatalogRepository, collection: Collection, version: CollectionVersion
) -> bool:
    stored_collection = repo.get(Collection, collection.collection_id)
    stored_version = repo.get(CollectionVersion, version.version_id)
    return (
        stored_collection is not None
        and stored_version is not None
        and stored_collection.rev == collection.rev
        and stored_version.rev == version.rev
    )


def _settle_staged(repo: CatalogRepository, dataset_ids: list[str], version_id: str) -> None:
    """Apply this publish's mappings to one batch of datasets (best effort: a batch that keeps
    conflicting is left for readers and the next publish to settle)."""

    def once() -> None:
        stored = repo.get_many(Dataset, dataset_ids)
        writes: list[Write] = [
            Put(dataset.with_staged_applied())
            for dataset in stored.values()
            if dataset.staged is not None and dataset.staged.collection_version_id == version_id
        ]
        repo.commit(writes)

    with contextlib.suppress(StateConflictError):
        retry_on_conflict(once, attempts=ATTEMPTS, gave_up="the datasets kept changing")


def _chunks(keys: Iterable[str]) -> list[list[str]]:
    ordered = list(dict.fromkeys(keys))
    return [ordered[i : i + MAX_WRITES] for i in range(0, len(ordered), MAX_WRITES)]


def _stored[R: (Collection, CollectionVersion)](record: R) -> R:
    return record.model_copy(update={"rev": record.rev + 1})
