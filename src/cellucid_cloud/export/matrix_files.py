"""Where X is in a stored AnnData, and X read straight from there, without anndata.

Block workers (processes beside ``prepare``, Lambda functions of the distributed export) and
the start of ``prepare`` (``head_start.py``) only need X's rows or columns. Importing anndata
costs ~1.6 s of CPU per process; h5py or zarr with numpy and scipy costs a fraction, so workers
open X here: the plan names where X is (:class:`MatrixLocation`) and each worker reads slices
along X's stored axis itself, through the same error handling as the export's own reads
(:class:`~.source.ArrayBlocks`). The export's source (``source.py``) finds and checks X with the
same functions, so both choose the same X.
"""

import contextlib
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict
from scipy import sparse

from .errors import PrepareError
from .hdf5_direct import stored_runs
from .matrix import READ_ERRORS, ArrayBlocks, Layout, MatrixBlocks


class MatrixLocation(BaseModel):
    """Where an export's gene values are stored: a file (or zarr folder) and the node in it."""

    model_config = ConfigDict(frozen=True)

    path: str
    node: str
    """The group or array inside the file: ``/X``, ``/raw/X``, ``/layers/<name>``…"""
    layout: Layout
    shape: tuple[int, int]


def is_legacy(root: Any) -> bool:
    """True for a pre-0.7 layout: obs is one compound array, not a group of columns."""
    return hasattr(root["obs"], "dtype")


def stored_matrices(root: Any) -> dict[str, tuple[Any, Any]]:
    """Each matrix of gene values in the file with the var frame naming its genes."""
    found = {}
    if "X" in root:
        found["X"] = (root["X"], root["var"])
    if "raw" in root and "X" in root["raw"] and "var" in root["raw"]:
        found["raw.X"] = (root["raw"]["X"], root["raw"]["var"])
    elif "raw.X" in root and "raw.var" in root:
        found["raw.X"] = (root["raw.X"], root["raw.var"])
    if "layers" in root and not hasattr(root["layers"], "shape"):
        for name in root["layers"]:
            found[f"layers/{name}"] = (root["layers"][name], root["var"])
    return found


def pick_matrix(available: Sequence[str], asked: str | None) -> str | None:
    """Which matrix holds the gene values: the one asked for, else X, else raw.X, else a layer
    (names saying log or norm first, as a viewer shows normalised values; then by name)."""
    if asked is not None:
        if asked not in available:
            has = ", ".join(available) or "no expression matrix"
            raise PrepareError(f"expression matrix {asked!r} is not in the AnnData (it has {has})")
        return asked
    layers = sorted(
        (name for name in available if name.startswith("layers/")),
        key=lambda name: (not any(word in name.lower() for word in ("log", "norm")), name),
    )
    return next((name for name in ("X", "raw.X", *layers) if name in available), None)


def stored_layout(node: Any, path: Path, name: str) -> Layout:
    """How the matrix ``node`` (``name`` in messages) stores its values, after the checks that
    need no pass over them: a known encoding, numbers, and index pointers that span the stored
    values (a chunk missing from a zarr store reads as zeros, which would otherwise export an
    empty X without a word; order is checked block by block later)."""
    encoding = str(node.attrs.get("encoding-type", ""))
    if "h5sparse_format" in node.attrs:  # anndata before 0.7
        legacy = node.attrs["h5sparse_format"]
        encoding = f"{legacy.decode() if isinstance(legacy, bytes) else legacy}_matrix"
    layout: Layout
    if encoding in ("csr_matrix", "csc_matrix"):
        indptr = np.asarray(node["indptr"][...])
        stored = (int(node["indices"].shape[0]), int(node["data"].shape[0]))
        spans = indptr.ndim == 1 and len(indptr) > 0 and indptr[0] == 0
        if not spans or {int(indptr[-1])} != set(stored):
            ends = f"{indptr[0]}..{indptr[-1]}" if indptr.ndim == 1 and len(indptr) else "empty"
            raise PrepareError(
                f"{path}: {name} is corrupt: its index pointers run {ends} but it stores "
                f"{stored[0]} indices and {stored[1]} values"
            )
        layout, dtype = ("csr" if encoding == "csr_matrix" else "csc"), node["data"].dtype
    elif hasattr(node, "shape") and len(node.shape) == 2:
        layout, dtype = "dense", node.dtype
    else:
        raise PrepareError(f"{path}: {name} has an unsupported encoding {encoding!r}")
    if not (np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.bool_)):
        raise PrepareError(f"{path}: {name} holds {dtype} values, not numbers")
    return layout


_REFUSED: tuple[type[BaseException], ...] = (PrepareError, *READ_ERRORS)


def locate_matrix(root: Any, path: Path, asked: str | None) -> MatrixLocation | None:
    """Where the gene values of an AnnData file from anndata 0.7 or later are, chosen as the
    export chooses them (:func:`pick_matrix`), from the file's structure alone; None when the
    file has none, is older, or is refused (the export then says why)."""
    try:
        if "obs" not in root or "var" not in root or is_legacy(root):
            return None
        matrices = stored_matrices(root)
        chosen = pick_matrix(list(matrices), asked)
        if chosen is None:
            return None
        node = matrices[chosen][0]
        layout = stored_layout(node, path, chosen)
        shape = node.shape if layout == "dense" else node.attrs["shape"]
        return MatrixLocation(
            path=str(path),
            node=str(node.name),
            layout=layout,
            shape=(int(shape[0]), int(shape[1])),
        )
    except _REFUSED:
        return None


class StoredCompressed:
    """A stored CSR or CSC matrix (``data``, ``indices``, ``indptr``), sliced along its stored
    axis: one contiguous range of each array per slice."""

    def __init__(
        self, group: Any, layout: Layout, shape: tuple[int, int], fd: int | None = None
    ) -> None:
        self.data, self.indices, self.indptr = (
            _readable(group[name], fd) for name in ("data", "indices", "indptr")
        )
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


def _readable(array: Any, fd: int | None) -> Any:
    """``array``, read past h5py when its bytes are stored unfiltered in the file open as
    ``fd``."""
    return array if fd is None else stored_runs(array, fd) or array


def row_entries(matrix: MatrixBlocks) -> NDArray[np.int64] | None:
    """Stored entries per row of a CSR X read from its file (None otherwise): from ``indptr``,
    one integer per row, so that row blocks can be cut by entries."""
    array = getattr(matrix, "array", None)
    if not isinstance(array, StoredCompressed) or array.layout != "csr":
        return None
    return np.diff(np.asarray(array.indptr[...], np.int64))


def stored_matrix(root: Any, location: MatrixLocation, fd: int | None = None) -> MatrixBlocks:
    """X of an opened file (an h5py File, also one over S3, or a zarr group); ``fd``, the same
    HDF5 file opened by the OS, lets its sparse arrays be read past h5py (``hdf5_direct.py``)."""
    node = root[location.node]
    array: Any = node
    if location.layout != "dense":
        array = StoredCompressed(node, location.layout, location.shape, fd)
    return ArrayBlocks(array, location.layout, location.shape)


def _root(path: Path, cleanup: contextlib.ExitStack) -> Any:
    """The root group of the HDF5 file or zarr store (folder or .zip) at ``path``."""
    if _is_zarr(path):
        import zarr

        store: Any = path
        if path.name.lower().endswith(".zip"):
            store = zarr.storage.ZipStore(path, mode="r")
            cleanup.callback(store.close)
        return zarr.open_group(store, mode="r")
    import h5py

    return cleanup.enter_context(h5py.File(path, "r"))


def _is_zarr(path: Path) -> bool:
    return path.is_dir() or path.name.lower().endswith((".zarr", ".zarr.zip"))


_UNOPENED: tuple[type[BaseException], ...] = (*READ_ERRORS, zipfile.BadZipFile)


def locate_in_file(path: Path, asked: str | None) -> MatrixLocation | None:
    """:func:`locate_matrix` in the file or store at ``path``; None also when it cannot be
    opened (the reader then says why)."""
    with contextlib.ExitStack() as cleanup:
        try:
            root = _root(path, cleanup)
        except _UNOPENED:
            return None
        return locate_matrix(root, path, asked)


@contextlib.contextmanager
def open_matrix(location: MatrixLocation) -> Iterator[MatrixBlocks]:
    """X of the file at ``location.path``, open while the block runs."""
    path = Path(location.path)
    with contextlib.ExitStack() as cleanup:
        try:
            root = _root(path, cleanup)
            fd = None if _is_zarr(path) else cleanup.enter_context(path.open("rb", 0)).fileno()
            matrix = stored_matrix(root, location, fd)
        except (OSError, KeyError, ValueError) as error:
            raise PrepareError(f"{path}: cannot open {location.node} ({error})") from None
        yield matrix
