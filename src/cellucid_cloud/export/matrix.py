"""X as the export reads it: blocks of rows or columns, whatever stores it.

Kept free of anndata, so that block workers (processes, Lambda functions) that only read X do
not pay for importing it.
"""

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from .errors import PrepareError, one_line
from .matrix_checks import check_structure

Layout = Literal["csr", "csc", "dense"]
Block = sparse.csr_matrix | sparse.csc_matrix | NDArray[Any]

READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    KeyError,
    ValueError,
    TypeError,
    RuntimeError,
    AttributeError,
)
"""What h5py, zarr and numpy raise for a chunk they cannot deliver (unknown filter, corrupt
bytes, a missing chunk)."""


class MatrixBlocks(Protocol):
    """Chunked access to X; which direction is cheap depends on ``layout``."""

    @property
    def layout(self) -> Layout: ...

    @property
    def shape(self) -> tuple[int, int]: ...

    def rows(self, start: int, stop: int) -> Block: ...

    def columns(self, start: int, stop: int) -> Block: ...


@dataclass(frozen=True)
class ArrayBlocks:
    """X as an indexable object: a backed sparse dataset, an HDF5/zarr array, or in memory."""

    array: Any
    layout: Layout
    shape: tuple[int, int]
    node: str | None = None
    """Where X is inside its file (``/X``, ``/raw/X``…), so that another process can open it
    (:mod:`.matrix_files`); None for a matrix in memory."""
    errors: tuple[type[BaseException], ...] = READ_ERRORS
    """What reading a block may raise for a bad file, reported as a PrepareError."""

    def rows(self, start: int, stop: int) -> Block:
        return self._read((slice(start, stop),), f"cells {start}-{stop}")

    def columns(self, start: int, stop: int) -> Block:
        return self._read((slice(None), slice(start, stop)), f"genes {start}-{stop}")

    def _read(self, where: tuple[slice, ...], what: str) -> Block:
        """A block of X; a chunk the file cannot deliver (unknown filter, corrupt bytes) is a
        PrepareError, raised in whichever thread reads it."""
        try:
            return self.array[where]  # type: ignore[no-any-return]
        except self.errors as error:
            raise PrepareError(f"cannot read X ({what}): {one_line(error)}") from None


def by_columns(matrix: MatrixBlocks) -> MatrixBlocks | None:
    """X read a block of columns at a time (CSC, or in memory), or None: by row blocks."""
    array = getattr(matrix, "array", None)
    in_memory = isinstance(array, np.ndarray) or sparse.issparse(array)
    if in_memory and matrix.layout == "csr":
        return _ColumnsOfMemoryCsr(array)
    if in_memory or matrix.layout == "csc":
        return matrix
    return None


class _ColumnsOfMemoryCsr:
    """An in-memory CSR X converted to CSC once, instead of slicing columns of CSR per block."""

    layout: Layout = "csc"

    def __init__(self, matrix: Any) -> None:
        check_structure(matrix, "X")
        self.array = sparse.csc_matrix(matrix)
        self.shape = (int(matrix.shape[0]), int(matrix.shape[1]))

    def rows(self, start: int, stop: int) -> Any:
        return self.array[start:stop]

    def columns(self, start: int, stop: int) -> Any:
        return self.array[:, start:stop]
