"""A read-only file over byte ranges of a stored object, for h5py to open an upload in S3.

The PyPI h5py wheel has no ROS3 driver, and s3fs pins an older botocore than boto3 wants, so
h5py reads through this file object (its ``fileobj`` driver). HDF5 reads its metadata in many
small pieces, often the same ones again, and a chunked dataset chunk after chunk: the object is
fetched in blocks of :data:`BLOCK` bytes kept in an LRU cache, blocks missing from a read are
fetched in parallel, and a read that follows the previous one also fetches the next
:data:`READ_AHEAD` blocks. A read of more than :data:`DIRECT_BLOCKS` blocks (a row block's
values in a contiguous dataset) goes straight into the caller's buffer, in parallel parts,
without passing through the cache. Memory stays within the cache's size.

A ranged read that fails (S3 still failing after botocore's retries) reaches h5py as an error
of the file object, which HDF5 reports only as an I/O error of its own, read by the export as a
file it cannot read. :attr:`RangeFile.failure` keeps the first such error so that the caller
reports the storage's failure instead (``upload_file.py``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Buffer
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from cachetools import LRUCache

from cellucid_cloud.core.ports import ByteRanges

__all__ = ["RangeFile"]

BLOCK: Final = 512 << 10
CACHED_BLOCKS: Final = 256
"""128 MiB of cached blocks at most."""
READ_AHEAD: Final = 16
DIRECT_BLOCKS: Final = 64
PARALLEL: Final = 16
"""Ranged GETs at once: S3 serves each at some 90 MB/s, so throughput comes from several."""


class RangeFile(io.RawIOBase):
    def __init__(self, ranges: ByteRanges, *, block: int = BLOCK) -> None:
        super().__init__()
        self._ranges = ranges
        self._size = ranges.size
        self._block = block
        self._pos = 0
        self._cache: LRUCache[int, bytes] = LRUCache(CACHED_BLOCKS)
        self._next = -1
        """The block after the last one read: a read from there on, or from within the
        last block into the next, is sequential."""
        self._pool = ThreadPoolExecutor(PARALLEL, thread_name_prefix="range-get")
        self.failure: Exception | None = None
        """The first ranged read that failed, if any did."""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError(f"seek to {base + offset}, before the start of the file")
        self._pos = base + offset
        return self._pos

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        super().close()

    def readinto(self, buffer: Buffer) -> int:
        view = memoryview(buffer).cast("B")
        start = self._pos
        stop = min(self._size, start + len(view))
        if stop <= start:
            return 0
        first, last = start // self._block, (stop - 1) // self._block
        if last - first >= DIRECT_BLOCKS:
            self._direct(view[: stop - start], start)
        else:
            self._fetch(first, last)
            at = 0
            for index in range(first, last + 1):
                data = self._cache[index]
                low = max(start - index * self._block, 0)
                high = min(stop - index * self._block, len(data))
                view[at : at + high - low] = data[low:high]
                at += high - low
        self._next = last + 1
        self._pos = stop
        return stop - start

    def _fetch(self, first: int, last: int) -> None:
        """Blocks ``first`` to ``last`` into the cache (and the read-ahead, when sequential)."""
        if self._next - 1 <= first <= self._next <= last:  # moving on past the last read
            last = min(last + READ_AHEAD, (self._size - 1) // self._block)
        missing = [i for i in range(first, last + 1) if i not in self._cache]

        def get(index: int) -> bytes:
            begin = index * self._block
            return self._read(begin, min(begin + self._block, self._size))

        for index, data in zip(missing, self._pool.map(get, missing), strict=True):
            self._cache[index] = data

    def _direct(self, target: memoryview, start: int) -> None:
        part = self._block * READ_AHEAD

        def get(offset: int) -> None:
            end = min(offset + part, len(target))
            target[offset:end] = self._read(start + offset, start + end)

        list(self._pool.map(get, range(0, len(target), part)))

    def _read(self, start: int, stop: int) -> bytes:
        try:
            return self._ranges.read(start, stop)
        except Exception as error:
            if self.failure is None:
                self.failure = error
            raise
