"""What the distributed export needs from the buckets, as ports: S3 on AWS, anything in tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cellucid_cloud.catalog.processing import StoredUpload

__all__ = ["ByteRanges", "Executions", "Objects"]


class ByteRanges(Protocol):
    """One stored object read by byte ranges, pinned to the version first seen: a replaced
    object is an error, never a mix of two files."""

    @property
    def size(self) -> int: ...

    def read(self, start: int, stop: int) -> bytes:
        """Bytes ``start`` to ``stop`` (exclusive)."""
        ...


class Objects(Protocol):
    """One bucket, as the steps of the distributed export use it."""

    def put(self, key: str, data: bytes, *, create_only: bool = False) -> None:
        """Store ``data`` at ``key``. ``create_only``: never replace an object (S3's
        ``If-None-Match: *``); the same bytes stored again (a retried step) are no error,
        other bytes raise :class:`FileExistsError`."""
        ...

    def put_parts(self, key: str, parts: Sequence[memoryview]) -> None:
        """Store the concatenation of ``parts`` (a spill shard) without joining them."""
        ...

    def get(self, key: str) -> bytes:
        """An object's bytes; :class:`FileNotFoundError` when there is none."""
        ...

    def get_range(self, key: str, start: int, stop: int) -> bytes: ...

    def sizes(self, prefix: str) -> dict[str, int]:
        """Every object under ``prefix``: key -> size."""
        ...

    def delete_prefix(self, prefix: str) -> None: ...

    def head(self, key: str) -> StoredUpload:
        """An object's ETag, size and time; :class:`FileNotFoundError` when there is none."""
        ...

    def ranges(self, key: str, etag: str) -> ByteRanges:
        """The object at ``key`` as it is at ``etag``, read by ranges."""
        ...


class Executions(Protocol):
    """Starts the distributed export (a Step Functions state machine on AWS)."""

    def start(self, name: str, document: str) -> None:
        """Start an execution called ``name`` (unique per attempt: starting the same one again
        is no error) with the JSON ``document`` as its input."""
        ...
