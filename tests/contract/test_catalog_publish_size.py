"""A publish is atomic whatever its size, on either catalog adapter (a DynamoDB transaction
holds 100 writes; a collection may hold thousands of datasets): nothing of it is public until
its one switching commit, everything of it is public from then on, even if it stops right
after (``cellucid_cloud.catalog.publishing``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

import pytest

from cellucid_cloud.catalog.dynamodb_repository import (
    DynamoDbCatalogRepository,
    dynamodb_client,
    stored_item,
)
from cellucid_cloud.catalog.meta import MetaService
from cellucid_cloud.catalog.models import (
    Collection,
    CollectionVersion,
    Dataset,
    DatasetStats,
    DatasetStatus,
    DatasetVersion,
    StoredRecord,
    new_id,
)
from cellucid_cloud.catalog.repository import MAX_WRITES, Put, Write
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.core.errors import StateConflictError
from cellucid_cloud.core.ports import CatalogRepository
from tests.catalog_data import CURATOR, METADATA, FakeExports

N_DATASETS = 500
"""The big publish: five times what one transaction holds."""
N_SMALLER = 150
"""The stopped and racing publishes: more than one transaction's worth, and quicker on moto."""
BATCH_WRITE_LIMIT = 25
WHEN = datetime(2026, 11, 23, tzinfo=UTC)


def ready_versions(collection_id: str, dataset_ids: Iterable[str]) -> list[DatasetVersion]:
    return [
        DatasetVersion(
            version_id=new_id(),
            dataset_id=dataset_id,
            collection_id=collection_id,
            status=DatasetStatus.READY,
            export_prefix=f"exports/{new_id()}/",
            stats=DatasetStats(name="lung", n_cells=10, n_genes=5, bytes=100),
            created_at=WHEN,
            updated_at=WHEN,
        )
        for dataset_id in dataset_ids
    ]


Seed = Callable[[Sequence[StoredRecord]], None]


@pytest.fixture
def seed(repository: CatalogRepository, request: pytest.FixtureRequest) -> Seed:
    """Store new records as a commit would, without transactions on DynamoDB: moto copies
    the whole table for every item of a transaction, so seeding 1,000 records through commits
    takes minutes there (the publish under test still runs its transactions)."""
    if not isinstance(repository, DynamoDbCatalogRepository):
        return lambda records: commit_in_batches(
            repository, [Put(record, create=True) for record in records]
        )
    client = dynamodb_client(endpoint_url=request.getfixturevalue("moto_server"))

    def load(records: Sequence[StoredRecord]) -> None:
        for start in range(0, len(records), BATCH_WRITE_LIMIT):
            batch = [
                {"PutRequest": {"Item": stored_item(r)}}
                for r in records[start : start + BATCH_WRITE_LIMIT]
            ]
            while batch:
                reply = client.batch_write_item(RequestItems={repository.table_name: batch})
                batch = reply.get("UnprocessedItems", {}).get(repository.table_name, [])

    return load


def commit_in_batches(repository: CatalogRepository, writes: Sequence[Write]) -> None:
    for start in range(0, len(writes), MAX_WRITES):
        repository.commit(writes[start : start + MAX_WRITES])


def draft_of_ready_datasets(seed: Seed, n: int) -> tuple[str, list[str]]:
    """A never-published collection of ``n`` ready datasets, as the use cases leave one
    (written directly: n uploads through the use cases would take minutes on moto)."""
    collection = Collection(
        collection_id=new_id(), owner=CURATOR, open_version_id=new_id(), created_at=WHEN
    )
    versions = ready_versions(collection.collection_id, (new_id() for _ in range(n)))
    datasets = [
        Dataset(
            dataset_id=v.dataset_id,
            collection_id=collection.collection_id,
            version_id=v.version_id,
            export_prefix=v.export_prefix,
        )
        for v in versions
    ]
    draft = CollectionVersion(
        version_id=collection.open_version_id or "",
        collection_id=collection.collection_id,
        metadata=METADATA,
        datasets={v.dataset_id: v.version_id for v in versions},
        created_at=WHEN,
    )
    seed([*versions, *datasets, collection, draft])
    return collection.collection_id, [v.dataset_id for v in versions]


def meta_of(repository: CatalogRepository) -> MetaService:
    return MetaService(
        CatalogService(repository), FakeExports(), "https://h", ttl=0, clock=lambda: 0.0
    )


def public_versions(meta: MetaService, dataset_ids: list[str]) -> dict[str, str | None]:
    """Each dataset's canonical answer: the version it shows publicly, ``tombstoned``, or
    None while it is private."""
    shown: dict[str, str | None] = {}
    for dataset_id in dataset_ids:
        answer = meta.lookup(f"/e/{dataset_id}/").value
        assert answer is not None
        if answer.tombstoned:
            shown[dataset_id] = "tombstoned"
        elif answer.collection_visibility == "PUBLIC":
            shown[dataset_id] = answer.dataset_version_id
        else:
            shown[dataset_id] = None
    return shown


class StopsAt:
    """The repository, except that the commit ``when`` picks raises, as a crash would."""

    def __init__(
        self, repository: CatalogRepository, when: Callable[[Sequence[Write]], bool]
    ) -> None:
        self._repository = repository
        self._when = when

    def __getattr__(self, name: str) -> object:
        return getattr(self._repository, name)

    def commit(self, writes: Sequence[Write]) -> None:
        if self._when(writes):
            raise RuntimeError("the process died here")
        self._repository.commit(writes)


def is_switch(writes: Sequence[Write]) -> bool:
    return any(isinstance(w.record, Collection) for w in writes)


def test_500_datasets_publish_and_revise_atomically(
    repository: CatalogRepository, seed: Seed
) -> None:
    cid, ids = draft_of_ready_datasets(seed, N_DATASETS)
    catalog, meta = CatalogService(repository), meta_of(repository)
    assert set(public_versions(meta, ids).values()) == {None}

    view = catalog.publish(CURATOR, cid)
    assert view.collection.published_version_id == view.version.version_id
    first = public_versions(meta, ids)
    assert first == view.version.datasets
    stored = repository.get_many(Dataset, ids)
    assert all(d.staged is None and d.published for d in stored.values())
    listed = meta.datasets_json().value
    assert listed is not None and len(listed.datasets) == N_DATASETS

    # A revision refreshing half the datasets and withdrawing the other half: 500 changes.
    revision = catalog.start_revision(CURATOR, cid).version
    kept, withdrawn = ids[: N_DATASETS // 2], ids[N_DATASETS // 2 :]
    refreshed = ready_versions(cid, kept)
    mapping = {v.dataset_id: v.version_id for v in refreshed}
    seed(refreshed)
    repository.commit([Put(revision.model_copy(update={"datasets": mapping}))])
    assert public_versions(meta, ids) == first
    catalog.publish(CURATOR, revision.version_id)
    assert public_versions(meta, ids) == mapping | dict.fromkeys(withdrawn, "tombstoned")
    listed = meta.datasets_json().value
    assert listed is not None
    assert {d.id: d.path for d in listed.datasets} == {
        v.dataset_id: v.export_prefix for v in refreshed
    }


def test_a_publish_stopped_before_its_switch_shows_nothing(
    repository: CatalogRepository, seed: Seed
) -> None:
    cid, ids = draft_of_ready_datasets(seed, N_SMALLER)
    meta = meta_of(repository)
    stopping = CatalogService(StopsAt(repository, is_switch))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="died"):
        stopping.publish(CURATOR, cid)
    staged = repository.get_many(Dataset, ids)
    assert all(d.staged is not None for d in staged.values())  # written, but not public
    assert set(public_versions(meta, ids).values()) == {None}
    assert meta.datasets_json().value is None
    view = CatalogService(repository).publish(CURATOR, cid)  # the curator tries again
    assert public_versions(meta, ids) == view.version.datasets


def test_a_publish_stopped_after_its_switch_is_public_whole(
    repository: CatalogRepository, seed: Seed
) -> None:
    cid, ids = draft_of_ready_datasets(seed, N_SMALLER)
    catalog, meta = CatalogService(repository), meta_of(repository)
    catalog.publish(CURATOR, cid)
    revision = catalog.start_revision(CURATOR, cid).version
    refreshed = ready_versions(cid, ids[:120])
    mapping = {v.dataset_id: v.version_id for v in refreshed}
    seed(refreshed)
    repository.commit([Put(revision.model_copy(update={"datasets": mapping}))])
    switched = threading.Event()

    def after_the_switch(writes: Sequence[Write]) -> bool:
        if switched.is_set():
            return True
        if is_switch(writes):
            switched.set()
        return False

    stopping = CatalogService(StopsAt(repository, after_the_switch))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="died"):
        stopping.publish(CURATOR, revision.version_id)
    expected = mapping | dict.fromkeys(ids[120:], "tombstoned")
    assert public_versions(meta, ids) == expected  # every reader applies the staged mappings
    assert any(d.staged is not None for d in repository.get_many(Dataset, ids).values())
    listed = meta.datasets_json().value
    assert listed is not None and {d.id for d in listed.datasets} == set(mapping)
    # The collection's next publish settles what the stopped one left.
    unchanged = catalog.start_revision(CURATOR, cid).version.version_id
    catalog.publish(CURATOR, unchanged)
    assert public_versions(meta, ids) == expected
    assert all(d.staged is None for d in repository.get_many(Dataset, ids).values())


def test_of_two_racing_publishes_exactly_one_wins(
    repository: CatalogRepository, seed: Seed
) -> None:
    cid, ids = draft_of_ready_datasets(seed, N_SMALLER)
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def publish() -> None:
        catalog = CatalogService(repository)
        start.wait()
        try:
            catalog.publish(CURATOR, cid)
            outcomes.append("published")
        except StateConflictError:
            outcomes.append("409")

    threads = [threading.Thread(target=publish) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["409", "published"]
    view = CatalogService(repository).version_for(cid)
    assert public_versions(meta_of(repository), ids) == view.version.datasets
    assert all(d.staged is None for d in repository.get_many(Dataset, ids).values())
