"""X's arrays read by the places of their bytes in the file (``export/hdf5_direct.py``): the
values h5py reads, for the layouts it applies to, and h5py for every other."""

import os
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from cellucid_cloud.export.hdf5_direct import StoredRuns, stored_runs
from cellucid_cloud.export.matrix_files import locate_in_file, open_matrix
from tests.export_data import make_adata

SLICES = [
    slice(None),
    slice(0, 1),
    slice(6, 7),
    slice(5, 11),
    slice(7, 998),
    slice(990, None),
    slice(-3, None),
    slice(500, 500),
]


@pytest.fixture
def file(tmp_path: Path) -> Iterator[h5py.File]:
    values = np.arange(1000, dtype=np.float32) * 1.5
    with h5py.File(tmp_path / "arrays.h5", "w") as out:
        out["contiguous"] = values
        out.create_dataset("chunked", data=values, chunks=(7,))
        out.create_dataset("resizable", data=values.astype(np.int64), maxshape=(None,))
        out.create_dataset("gzip", data=values, chunks=(7,), compression="gzip")
        out.create_dataset("shuffled", data=values, chunks=(7,), shuffle=True)
        out["big_endian"] = values.astype(">f4")
        out["two_d"] = values.reshape(100, 10)
        out["empty"] = np.zeros(0, np.float32)
        partial = out.create_dataset("partly_written", shape=(1000,), dtype="f4", chunks=(100,))
        partial[:300] = values[:300]
        out["strings"] = np.array([b"a", b"b"])
    with h5py.File(tmp_path / "arrays.h5", "r") as opened:
        yield opened


@pytest.mark.parametrize("name", ["contiguous", "chunked", "resizable", "big_endian"])
def test_unfiltered_arrays_read_as_h5py_reads_them(file: h5py.File, name: str) -> None:
    fd = os.open(file.filename, os.O_RDONLY)
    try:
        direct = stored_runs(file[name], fd)
        assert isinstance(direct, StoredRuns)
        for where in SLICES:
            read = direct[where]
            assert read.dtype == file[name].dtype
            assert np.array_equal(read, file[name][where]), where
        assert np.array_equal(direct[...], file[name][...])
    finally:
        os.close(fd)


def test_chunks_one_after_another_are_read_as_one_run(file: h5py.File) -> None:
    fd = os.open(file.filename, os.O_RDONLY)
    try:
        direct = stored_runs(file["chunked"], fd)
        assert direct is not None and len(direct.offsets) < -(-1000 // 7)
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    "name", ["gzip", "shuffled", "two_d", "empty", "partly_written", "strings"]
)
def test_everything_else_is_read_by_h5py(file: h5py.File, name: str) -> None:
    fd = os.open(file.filename, os.O_RDONLY)
    try:
        assert stored_runs(file[name], fd) is None
    finally:
        os.close(fd)


def test_a_file_shorter_than_its_array_is_an_os_error(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_bytes(bytes(40))
    fd = os.open(short, os.O_RDONLY)
    try:
        runs = StoredRuns(fd, np.dtype(np.float32), np.array([0, 100]), np.array([0]))
        assert np.array_equal(runs[0:10], np.zeros(10, np.float32))
        with pytest.raises(OSError, match="the file ends inside a stored array"):
            runs[0:100]
    finally:
        os.close(fd)


def test_an_anndata_files_x_is_read_past_h5py(tmp_path: Path) -> None:
    """anndata writes sparse arrays chunked and uncompressed: the blocks read them directly."""
    adata = make_adata(n_cells=300, n_genes=20, seed=5)
    adata.write_h5ad(tmp_path / "plain.h5ad")
    adata.write_h5ad(tmp_path / "gzip.h5ad", compression="gzip")
    for name, direct in [("plain.h5ad", True), ("gzip.h5ad", False)]:
        location = locate_in_file(tmp_path / name, None)
        assert location is not None
        with open_matrix(location) as matrix:
            stored = matrix.array  # type: ignore[attr-defined]
            kinds = {type(a) is StoredRuns for a in (stored.data, stored.indices, stored.indptr)}
            assert kinds == {direct}
            block = matrix.rows(17, 255)
            assert (block != adata.X[17:255]).nnz == 0
