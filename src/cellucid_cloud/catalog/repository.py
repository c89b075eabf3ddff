"""What the catalog repository port (:class:`~cellucid_cloud.core.ports.CatalogRepository`)
speaks: keyed records and one atomic, conditional commit.

Everything the catalog does is built from two primitives, so that the SQLite and DynamoDB
adapters stay small and provably equivalent (``tests/contract/test_catalog_repository.py``):

* reads of one record by key (``get``), many by key (``get_many``) and the two collection
  listings (by owner; published ones);
* :meth:`CatalogRepository.commit`: a list of puts and deletes applied all together or not at
  all. Each write is conditional on the revision the caller read (optimistic concurrency), so
  two curators racing on the same record get one success and one :class:`ConflictError`.

A commit holds at most :data:`MAX_WRITES` writes: DynamoDB's transaction limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cellucid_cloud.catalog.models import (
    Alias,
    ApiKeyRecord,
    Collection,
    CollectionVersion,
    Dataset,
    DatasetVersion,
    PublishedCatalog,
    StoredRecord,
    Upload,
    UploadRefusal,
)
from cellucid_cloud.core.errors import StateConflictError

__all__ = [
    "MAX_WRITES",
    "RECORD_TYPES",
    "ConflictError",
    "Delete",
    "Put",
    "TooManyWritesError",
    "Write",
    "check_writes",
    "retry_on_conflict",
]

MAX_WRITES = 100

RECORD_TYPES: dict[str, type[StoredRecord]] = {
    cls.KIND: cls
    for cls in (
        Collection,
        CollectionVersion,
        Dataset,
        DatasetVersion,
        Upload,
        UploadRefusal,
        Alias,
        ApiKeyRecord,
        PublishedCatalog,
    )
}


class ConflictError(Exception):
    """A commit's condition failed: a record changed (or appeared) since it was read."""


class TooManyWritesError(ValueError):
    """A commit with more writes than one transaction may hold."""


@dataclass(frozen=True, slots=True)
class Put:
    """Store ``record``. With ``create``, the key must be free; otherwise the stored revision
    must equal ``record.rev``. The stored copy gets revision ``record.rev + 1``."""

    record: StoredRecord
    create: bool = False


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove ``record``; its stored revision must equal ``record.rev``."""

    record: StoredRecord


type Write = Put | Delete


def retry_on_conflict[T](attempt: Callable[[], T], *, attempts: int = 5, gave_up: str) -> T:
    """Run ``attempt`` (read records, decide, commit conditionally) again while its commit
    loses a race (:class:`ConflictError`). Optimistic concurrency, not a transport retry
    (botocore retries those): the next attempt reads what won, at once. After ``attempts``
    races lost the caller is told to try again (:class:`StateConflictError`, ``gave_up``)."""
    for _ in range(attempts):
        try:
            return attempt()
        except ConflictError:
            continue
    raise StateConflictError(gave_up)


def check_writes(writes: Sequence[Write]) -> None:
    """The checks both adapters make before touching storage."""
    if len(writes) > MAX_WRITES:
        raise TooManyWritesError(f"{len(writes)} writes in one commit; at most {MAX_WRITES}")
    keys = [(w.record.KIND, w.record.key) for w in writes]
    if len(set(keys)) != len(keys):
        raise TooManyWritesError("a commit may write each record once")
