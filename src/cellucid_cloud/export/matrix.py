"""X as the export reads it: blocks of rows or columns, whatever stores it.

Kept free of anndata, so that block workers (processes, Lambda functions) that only read X do
not pay for importing it.
"""

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from numpy.typing import NDArray
from scipy import sparse

from .errors import PrepareError, one_line

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
