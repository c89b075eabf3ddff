"""The file object h5py reads an upload in S3 through: the bytes of the object at any position,
cached blocks fetched once, large reads without the cache, and an upload opened this way reads
as the same AnnData."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pytest

from cellucid_cloud.distributed.range_file import BLOCK, DIRECT_BLOCKS, RangeFile
from tests.export_data import make_adata


class Ranges:
    """Bytes in memory read by ranges, counting the requests."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.requests: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, start: int, stop: int) -> bytes:
        with self._lock:
            self.requests.append((start, stop))
        return self.data[start:stop]


@pytest.fixture(scope="module")
def data() -> bytes:
    return np.random.default_rng(0).bytes(BLOCK * (DIRECT_BLOCKS + 20) + 12_345)


def test_any_read_returns_the_objects_bytes(data: bytes) -> None:
    rng = np.random.default_rng(1)
    with RangeFile(Ranges(data)) as file:
        for _ in range(300):
            start = int(rng.integers(0, len(data) + 10))
            size = int(rng.choice([1, 100, BLOCK - 1, BLOCK + 1, 3 * BLOCK]))
            file.seek(start)
            assert file.read(size) == data[start : start + size]
            assert file.tell() == max(start, min(len(data), start + size))
        file.seek(-5, os.SEEK_END)
        assert file.read() == data[-5:]
        with pytest.raises(OSError, match="before the start of the file"):
            file.seek(-1)


def test_blocks_are_fetched_once_and_large_reads_bypass_the_cache(data: bytes) -> None:
    ranges = Ranges(data)
    with RangeFile(ranges) as file:
        file.seek(10)
        file.read(100)
        file.seek(50)
        file.read(100)  # the same block: no request
        assert ranges.requests == [(0, BLOCK)]
        file.seek(BLOCK - 10)
        file.read(20)  # on into the next block: it and the next 16 (read-ahead)
        assert sorted(ranges.requests[1:]) == [(i * BLOCK, (i + 1) * BLOCK) for i in range(1, 18)]
        ranges.requests.clear()
        whole = bytearray(len(data))
        file.seek(0)
        assert file.readinto(whole) == len(data) and bytes(whole) == data
        assert all(stop - start > BLOCK for start, stop in ranges.requests[:-1])
        assert sum(stop - start for start, stop in ranges.requests) == len(data)


def test_h5py_reads_an_anndata_through_it(tmp_path: Path) -> None:
    path = tmp_path / "x.h5ad"
    adata = make_adata(n_cells=120, n_genes=15, seed=3)
    adata.write_h5ad(path)
    with RangeFile(Ranges(path.read_bytes())) as file, h5py.File(file, "r") as root:
        back = ad.io.read_elem(root)
    assert (back.X != adata.X).nnz == 0
    assert np.array_equal(back.obsm["X_umap"], adata.obsm["X_umap"])
    assert isinstance(file, io.RawIOBase)
