"""Columns of a stored CSR X: raw reads agree with h5py's, one pass answers several genes."""

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from scipy import sparse

from cellucid_cloud.export.errors import PrepareError
from cellucid_cloud.serve.csr_columns import CsrColumns, StoredArray, stored_array


def _matrix(
    n_cells: int = 3000, n_genes: int = 50, density: float = 0.2, seed: int = 0
) -> sparse.csr_matrix:
    rng = np.random.default_rng(seed)
    return sparse.random(
        n_cells, n_genes, density=density, format="csr", dtype=np.float32, random_state=rng
    )


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[tuple[Path, h5py.File, int]]:
    path = tmp_path / "x.h5"
    with h5py.File(path, "w"):
        pass
    fd = os.open(path, os.O_RDONLY)
    try:
        yield path, h5py.File(path, "a"), fd
    finally:
        os.close(fd)


def _write(handle: h5py.Group, name: str, values: np.ndarray, **options: Any) -> Any:
    dataset = handle.create_dataset(name, data=values, **options)
    handle.file.flush()  # raw reads see what is in the file
    return dataset


@pytest.mark.parametrize(
    ("options", "raw"),
    [
        ({}, True),  # contiguous
        ({"chunks": (777,)}, True),  # chunked, the last chunk partly used
        ({"chunks": (777,), "compression": "gzip"}, False),
        ({"chunks": (777,), "shuffle": True}, False),
    ],
)
def test_raw_reads_agree_with_h5py(
    opened: tuple[Path, h5py.File, int], options: dict[str, Any], raw: bool
) -> None:
    _, handle, fd = opened
    values = np.random.default_rng(1).integers(-(2**31), 2**31 - 1, 10_001).astype(">i4")
    dataset = _write(handle, "values", values, **options)
    array = stored_array(dataset, fd)
    assert (type(array) is not StoredArray) == raw
    buffer = np.empty(10_001, dataset.dtype)
    for start, stop in [(0, 10_001), (0, 1), (776, 778), (9000, 10_001), (1553, 6554)]:
        np.testing.assert_array_equal(array.read(start, stop, buffer), values[start:stop])


def test_a_dataset_never_written_is_read_through_h5py(opened: tuple[Path, h5py.File, int]) -> None:
    _, handle, fd = opened
    dataset = handle.create_dataset("empty", shape=(100,), dtype="<f4", chunks=(10,))
    dataset[:10] = 1.0  # nine chunks are never allocated: HDF5 answers their fill value
    handle.flush()
    assert type(stored_array(dataset, fd)) is StoredArray
    assert type(stored_array(handle.create_dataset("none", shape=(10,), dtype="<f4"), fd)) is (
        StoredArray
    )


def _columns(handle: h5py.File, fd: int, x: sparse.csr_matrix, block: int) -> CsrColumns:
    group = handle.create_group("X")
    for name in ("indices", "data"):
        _write(group, name, getattr(x, name), chunks=(1000,))
    return CsrColumns(
        x.indptr.astype(np.int64),
        stored_array(group["indices"], fd),
        stored_array(group["data"], fd),
        x.shape[1],
        block,
    )


@pytest.mark.parametrize(
    ("n_genes", "density"),
    [(50, 0.2), (3000, 0.01)],  # values read between hits; one by one (far apart)
)
def test_one_pass_gives_every_gene_asked(
    opened: tuple[Path, h5py.File, int], n_genes: int, density: float
) -> None:
    _, handle, fd = opened
    x = _matrix(n_genes=n_genes, density=density)
    columns = _columns(handle, fd, x, block=4096)
    genes = [0, 7, 8, n_genes - 1]
    found = columns._scan(genes)
    for gene in genes:
        np.testing.assert_array_equal(found[gene], x[:, gene].toarray().ravel())
    np.testing.assert_array_equal(columns.column(3), x[:, 3].toarray().ravel())


def test_a_gene_with_nan_fails_alone(opened: tuple[Path, h5py.File, int]) -> None:
    _, handle, fd = opened
    x = _matrix()
    x.data[x.indices == 5] = np.nan
    found = _columns(handle, fd, x, block=1000)._scan([4, 5, 6])
    assert isinstance(found[5], PrepareError)
    for gene in (4, 6):
        np.testing.assert_array_equal(found[gene], x[:, gene].toarray().ravel())


def test_genes_asked_at_once_are_all_answered(opened: tuple[Path, h5py.File, int]) -> None:
    """Threads asking for genes while passes run: each gets its own column, none is lost."""
    _, handle, fd = opened
    x = _matrix(n_cells=20_000, n_genes=40)
    columns = _columns(handle, fd, x, block=2048)
    passes = 0
    scan = columns._scan

    def counted(genes: list[int]) -> dict[int, Any]:
        nonlocal passes
        passes += 1
        return scan(genes)

    columns._scan = counted  # type: ignore[method-assign]
    results: dict[int, np.ndarray] = {}
    start = threading.Barrier(40)

    def ask(gene: int) -> None:
        start.wait()
        results[gene] = columns.column(gene)

    threads = [threading.Thread(target=ask, args=(gene,)) for gene in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for gene in range(40):
        np.testing.assert_array_equal(results[gene], x[:, gene].toarray().ravel())
    assert passes < 40, "every gene had a pass of its own"
