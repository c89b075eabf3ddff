"""The contract every catalog repository adapter keeps (SQLite locally, DynamoDB on AWS)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from cellucid_cloud.catalog.models import (
    Alias,
    ApiKeyRecord,
    Collection,
    CollectionMetadata,
    CollectionVersion,
    Contact,
    Dataset,
    DatasetStats,
    DatasetStatus,
    DatasetVersion,
    PublishedCatalog,
    StagedMapping,
    new_id,
)
from cellucid_cloud.catalog.repository import (
    MAX_WRITES,
    ConflictError,
    Delete,
    Put,
    TooManyWritesError,
)
from cellucid_cloud.core.ports import CatalogRepository

WHEN = datetime(2026, 11, 23, 8, 0, 0, 123456, tzinfo=UTC)


def collection(owner: str = "curator-a", published: bool = False) -> Collection:
    return Collection(
        collection_id=new_id(),
        owner=owner,
        published_version_id=new_id() if published else None,
        open_version_id=None if published else new_id(),
        created_at=WHEN,
        published_at=WHEN if published else None,
    )


def metadata(name: str = "Lung atlas") -> CollectionMetadata:
    return CollectionMetadata.model_validate(
        {
            "name": name,
            "description": "Ünïcode ☃ and\nnewlines",
            "contact_name": "Ada Lovelace",
            "contact_email": "ada@example.org",
            "links": [{"name": "paper", "type": "DOI", "url": "https://doi.org/10.1/x"}],
        }
    )


def dataset_version(status: DatasetStatus = DatasetStatus.READY) -> DatasetVersion:
    return DatasetVersion(
        version_id=new_id(),
        dataset_id=new_id(),
        collection_id=new_id(),
        status=status,
        reason="bad file" if status is DatasetStatus.FAILED else None,
        export_prefix="exports/x/",
        stats=DatasetStats(name="PBMC", n_cells=3, n_genes=2, bytes=10),
        created_at=WHEN,
        updated_at=WHEN,
    )


def test_every_record_kind_round_trips(repository: CatalogRepository) -> None:
    col = collection()
    version = CollectionVersion(
        version_id=col.open_version_id or "",
        collection_id=col.collection_id,
        metadata=metadata(),
        datasets={new_id(): new_id()},
        created_at=WHEN,
    )
    dv = dataset_version()
    ds = Dataset(
        dataset_id=dv.dataset_id,
        collection_id=col.collection_id,
        version_id=dv.version_id,
        tombstoned=True,
        tombstone_contact=Contact(name="Ada", email="ada@example.org"),
    )
    staged = Dataset(
        dataset_id=new_id(),
        collection_id=col.collection_id,
        version_id=dv.version_id,
        staged=StagedMapping(
            collection_version_id=version.version_id, version_id=new_id(), export_prefix="x/"
        ),
    )
    alias = Alias(alias="pbmc3k", dataset_id=ds.dataset_id)
    key = ApiKeyRecord(key_hash="ab" * 32, curator_id="curator-a", created_at=WHEN)
    catalog = PublishedCatalog(collections={col.collection_id: version.version_id})
    records = [col, version, dv, ds, staged, alias, key, catalog]
    repository.commit([Put(r, create=True) for r in records])
    for record in records:
        stored = repository.get(type(record), record.key)
        assert stored == record.model_copy(update={"rev": 1})


def test_missing_records_read_as_none(repository: CatalogRepository) -> None:
    assert repository.get(Dataset, new_id()) is None
    assert repository.get_many(Dataset, [new_id(), new_id()]) == {}


def test_kinds_do_not_share_keys(repository: CatalogRepository) -> None:
    dv = dataset_version()
    repository.commit([Put(dv, create=True)])
    assert repository.get(Dataset, dv.version_id) is None
    assert repository.get(DatasetVersion, dv.version_id) is not None


def test_create_refuses_an_existing_key(repository: CatalogRepository) -> None:
    dv = dataset_version()
    repository.commit([Put(dv, create=True)])
    with pytest.raises(ConflictError):
        repository.commit([Put(dv.model_copy(update={"reason": "other"}), create=True)])
    assert repository.get(DatasetVersion, dv.version_id) == dv.model_copy(update={"rev": 1})


def test_update_needs_the_revision_it_read(repository: CatalogRepository) -> None:
    dv = dataset_version(DatasetStatus.WAITING)
    repository.commit([Put(dv, create=True)])
    current = repository.get(DatasetVersion, dv.version_id)
    assert current is not None and current.rev == 1
    repository.commit([Put(current.model_copy(update={"status": DatasetStatus.PROCESSING}))])
    with pytest.raises(ConflictError):  # stale: read at rev 1, stored rev is now 2
        repository.commit([Put(current.model_copy(update={"status": DatasetStatus.FAILED}))])
    stored = repository.get(DatasetVersion, dv.version_id)
    assert stored is not None and stored.rev == 2
    assert stored.status is DatasetStatus.PROCESSING


def test_update_of_a_missing_record_conflicts(repository: CatalogRepository) -> None:
    with pytest.raises(ConflictError):
        repository.commit([Put(dataset_version().model_copy(update={"rev": 1}))])


def test_delete_is_conditional(repository: CatalogRepository) -> None:
    dv = dataset_version()
    repository.commit([Put(dv, create=True)])
    with pytest.raises(ConflictError):
        repository.commit([Delete(dv)])  # rev 0 is stale
    stored = repository.get(DatasetVersion, dv.version_id)
    assert stored is not None
    repository.commit([Delete(stored)])
    assert repository.get(DatasetVersion, dv.version_id) is None
    with pytest.raises(ConflictError):
        repository.commit([Delete(stored)])


def test_a_failed_condition_applies_no_write(repository: CatalogRepository) -> None:
    existing = dataset_version()
    repository.commit([Put(existing, create=True)])
    fresh = [dataset_version() for _ in range(3)]
    with pytest.raises(ConflictError):
        repository.commit([*(Put(r, create=True) for r in fresh), Put(existing, create=True)])
    assert repository.get_many(DatasetVersion, [r.version_id for r in fresh]) == {}


def test_get_many_returns_what_exists(repository: CatalogRepository) -> None:
    records = [dataset_version() for _ in range(150)]
    for start in range(0, 150, MAX_WRITES):
        repository.commit([Put(r, create=True) for r in records[start : start + MAX_WRITES]])
    keys = [r.version_id for r in records] + [new_id()]
    found = repository.get_many(DatasetVersion, keys)
    assert set(found) == {r.version_id for r in records}
    assert all(found[r.version_id].status is r.status for r in records)


def test_one_commit_holds_at_most_max_writes(repository: CatalogRepository) -> None:
    records = [dataset_version() for _ in range(MAX_WRITES + 1)]
    with pytest.raises(TooManyWritesError):
        repository.commit([Put(r, create=True) for r in records])
    repository.commit([Put(r, create=True) for r in records[:MAX_WRITES]])
    assert len(repository.get_many(DatasetVersion, [r.version_id for r in records])) == MAX_WRITES


def test_one_commit_writes_a_key_once(repository: CatalogRepository) -> None:
    dv = dataset_version()
    with pytest.raises(TooManyWritesError):
        repository.commit([Put(dv, create=True), Put(dv, create=True)])


def test_listings_follow_owner_and_publication(repository: CatalogRepository) -> None:
    mine = [collection("curator-a"), collection("curator-a", published=True)]
    theirs = collection("curator-b", published=True)
    repository.commit([Put(c, create=True) for c in [*mine, theirs]])
    assert [c.collection_id for c in repository.collections_of("curator-a")] == sorted(
        c.collection_id for c in mine
    )
    assert repository.collections_of("nobody") == []
    published = {c.collection_id for c in repository.published_collections()}
    assert published == {mine[1].collection_id, theirs.collection_id}
    draft = repository.get(Collection, mine[0].collection_id)
    assert draft is not None
    repository.commit([Put(draft.model_copy(update={"published_version_id": new_id()}))])
    assert mine[0].collection_id in {c.collection_id for c in repository.published_collections()}


def test_racing_commits_on_one_record_let_exactly_one_win(
    repository: CatalogRepository,
) -> None:
    col = collection()
    repository.commit([Put(col, create=True)])
    read = repository.get(Collection, col.collection_id)
    assert read is not None
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def publish(n: int) -> None:
        barrier.wait()
        try:
            repository.commit(
                [
                    Put(read.model_copy(update={"published_version_id": f"v{n}"})),
                    Put(dataset_version(), create=True),
                ]
            )
            outcomes.append(f"v{n}")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o != "conflict"]
    assert len(winners) == 1 and len(outcomes) == 8
    stored = repository.get(Collection, col.collection_id)
    assert stored is not None and stored.published_version_id == winners[0] and stored.rev == 2
