"""The meta cache's promises, on a clock the test moves: absolute expiry, short-lived misses,
no cached errors, and a staleness after publish bounded by the TTL."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from cellucid_cloud.catalog.meta import MetaService
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.catalog.sqlite_repository import SqliteCatalogRepository
from cellucid_cloud.core.ports import CatalogRepository
from tests.catalog_data import CURATOR, FakeExports, published_collection, upload_ready

TTL, MISS_TTL = 60.0, 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingRepository:
    """The real SQLite repository, counting reads (and failing them on request)."""

    def __init__(self, inner: CatalogRepository) -> None:
        self.inner = inner
        self.reads = 0
        self.fail = False

    def get(self, kind: type[Any], key: str) -> Any:
        self.reads += 1
        if self.fail:
            raise ConnectionError("catalog unavailable")
        return self.inner.get(kind, key)

    def get_many(self, kind: type[Any], keys: Iterable[str]) -> Any:
        return self.inner.get_many(kind, keys)

    def collections_of(self, owner: str) -> Any:
        return self.inner.collections_of(owner)

    def published_collections(self) -> Any:
        return self.inner.published_collections()

    def commit(self, writes: Any) -> None:
        self.inner.commit(writes)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[CatalogService, MetaService, CountingRepository, Clock]:
    repo = CountingRepository(SqliteCatalogRepository(tmp_path / "c.sqlite3"))
    clock = Clock()
    catalog = CatalogService(repo)
    meta = MetaService(catalog, FakeExports(), "https://h", ttl=TTL, miss_ttl=MISS_TTL, clock=clock)
    return catalog, meta, repo, clock


def test_staleness_after_a_publish_is_bounded_by_the_ttl(
    setup: tuple[CatalogService, MetaService, CountingRepository, Clock],
) -> None:
    catalog, meta, _, clock = setup
    cid, [a] = published_collection(catalog, 1)
    first = meta.lookup(f"/e/{a}/")
    assert first.value is not None and first.max_age == TTL
    old_version = first.value.dataset_version_id

    clock.now += 10
    rid = catalog.start_revision(CURATOR, cid).version.version_id
    new_version = upload_ready(catalog, rid, a, "v2")
    catalog.publish(CURATOR, rid)
    published_at = clock.now

    # Stale answers until the entry's absolute deadline, each telling downstream caches to
    # keep it no longer than that deadline: nobody can see the old version TTL after publish.
    for offset in (0.0, 20.0, TTL - 10 - 0.001):
        clock.now = published_at + offset
        stale = meta.lookup(f"/e/{a}/")
        assert stale.value is not None and stale.value.dataset_version_id == old_version
        assert clock.now + stale.max_age <= published_at + TTL
    clock.now = published_at + TTL - 10  # TTL after the entry was stored
    fresh = meta.lookup(f"/e/{a}/")
    assert fresh.value is not None and fresh.value.dataset_version_id == new_version
    assert fresh.max_age == TTL


def test_hits_do_not_extend_an_entry(
    setup: tuple[CatalogService, MetaService, CountingRepository, Clock],
) -> None:
    catalog, meta, repo, clock = setup
    _, [a] = published_collection(catalog, 1)
    meta.lookup(f"/e/{a}/")
    reads = repo.reads
    for _ in range(59):
        clock.now += 1
        meta.lookup(f"/e/{a}/")  # a popular dataset, read every second
    assert repo.reads == reads
    clock.now += 1  # 60 s after it was stored, however often it was read
    meta.lookup(f"/e/{a}/")
    assert repo.reads > reads


def test_misses_are_cached_briefly(
    setup: tuple[CatalogService, MetaService, CountingRepository, Clock],
) -> None:
    _, meta, repo, clock = setup
    missing = meta.lookup("/e/not-yet-there/")
    assert missing.value is None and missing.max_age == MISS_TTL
    reads = repo.reads
    clock.now += MISS_TTL - 0.5
    meta.lookup("/e/not-yet-there/")
    assert repo.reads == reads
    clock.now += 0.5
    meta.lookup("/e/not-yet-there/")
    assert repo.reads > reads


def test_errors_are_never_cached(
    setup: tuple[CatalogService, MetaService, CountingRepository, Clock],
) -> None:
    catalog, meta, repo, _ = setup
    _, [a] = published_collection(catalog, 1)
    repo.fail = True
    with pytest.raises(ConnectionError):
        meta.lookup(f"/e/{a}/")
    repo.fail = False
    answer = meta.lookup(f"/e/{a}/")
    assert answer.value is not None and answer.value.dataset_id == a


def test_ttl_zero_turns_the_cache_off(tmp_path: Path) -> None:
    repo = CountingRepository(SqliteCatalogRepository(tmp_path / "c.sqlite3"))
    catalog = CatalogService(repo)
    meta = MetaService(catalog, FakeExports(), "https://h", ttl=0, clock=Clock())
    _, [a] = published_collection(catalog, 1)
    meta.lookup(f"/e/{a}/")
    reads = repo.reads
    meta.lookup(f"/e/{a}/")
    assert repo.reads > reads
    assert meta.lookup(f"/e/{a}/").max_age == 0
