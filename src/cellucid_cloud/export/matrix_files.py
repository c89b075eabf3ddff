"""X read straight from a stored AnnData by its place in the file, without anndata.

Block workers (processes beside ``prepare``, Lambda functions of the distributed export) only
need X's rows or columns. Importing anndata costs ~1.6 s of CPU per process; h5py or zarr with
numpy and scipy costs a fraction, so workers open X here: the plan names where X is
(:class:`MatrixLocation`) and each worker reads slices along X's stored axis itself, through the
same error handling as the export's own reads (:class:`~.source.ArrayBlocks`).
"""

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict
from scipy import sparse

from .errors import PrepareError
from .matrix import ArrayBlocks, Layout, MatrixBlocks


class MatrixLocation(BaseModel):
    """Where an export's gene values are stored: a file (or zarr folder) and the node in it."""

    model_config = ConfigDict(frozen=True)

    path: str
    node: str
    """The group or array inside the file: ``/X``, ``/raw/X``, ``/layers/<name>``…"""
    layout: Layout
    shape: tuple[int, int]


class StoredCompressed:
    """A stored CSR or CSC matrix (``data``, ``indices``, ``indptr``), sliced along its stored
    axis: one contiguous range of each array per slice."""

    def __init__(self, group: Any, layout: Layout, shape: tuple[int, int]) -> None:
        self.data = group["data"]
        self.indices = group["indices"]
        self.indptr = group["indptr"]
        self.layout = layout
        self.shape = shape

    def __getitem__(self, where: tuple[slice, ...]) -> sparse.csr_matrix | sparse.csc_matrix:
        axis = 0 if self.layout == "csr" else 1
        if len(where) <= axis or any(s != slice(None) for i, s in enumerate(where) if i != axis):
            raise ValueError(f"a stored {self.layout.upper()} X is read along its stored axis")
        start, stop, _ = where[axis].indices(self.shape[axis])
        pointers = np.asarray(self.indptr[start : stop + 1], dtype=np.int64)
        low, high = int(pointers[0]), int(pointers[-1])
        if high < low:
            raise ValueError(f"indptr decreases between {start} and {stop}")
        data = np.asarray(self.data[low:high])
        indices = np.asarray(self.indices[low:high])
        pointers -= low
        if self.layout == "csr":
            return sparse.csr_matrix((data, indices, pointers), shape=(stop - start, self.shape[1]))
        return sparse.csc_matrix((data, indices, pointers), shape=(self.shape[0], stop - start))


def row_entries(matrix: MatrixBlocks) -> NDArray[np.int64] | None:
    """Stored entries per row of a CSR X read from its file (None otherwise): from ``indptr``,
    one integer per row, so that row blocks can be cut by entries."""
    array = getattr(matrix, "array", None)
    if not isinstance(array, StoredCompressed) or array.layout != "csr":
        return None
    return np.diff(np.asarray(array.indptr[...], np.int64))


def stored_matrix(root: Any, location: MatrixLocation) -> MatrixBlocks:
    """X of an opened file (an h5py File, also one over S3, or a zarr group)."""
    node = root[location.node]
    array: Any = node
    if location.layout != "dense":
        array = StoredCompressed(node, location.layout, location.shape)
    return ArrayBlocks(array, location.layout, location.shape)


@contextlib.contextmanager
def open_matrix(location: MatrixLocation) -> Iterator[MatrixBlocks]:
    """X of the file at ``location.path``, open while the block runs."""
    path = Path(location.path)
    name = path.name.lower()
    with contextlib.ExitStack() as cleanup:
        try:
            if path.is_dir() or name.endswith((".zarr", ".zarr.zip")):
                import zarr

                store: Any = path
                if name.endswith(".zip"):
                    store = zarr.storage.ZipStore(path, mode="r")
                    cleanup.callback(store.close)
                root = zarr.open_group(store, mode="r")
            else:
                import h5py

                root = cleanup.enter_context(h5py.File(path, "r"))
            matrix = stored_matrix(root, location)
        except (OSError, KeyError, ValueError) as error:
            raise PrepareError(f"{path}: cannot open {location.node} ({error})") from None
        yield matrix
