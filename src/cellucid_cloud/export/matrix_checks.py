"""Blocks of X checked before scipy or the encoder trusts them.

A file's sparse structure is data like any other: an ``indptr`` that decreases or overruns, or an
index outside the matrix, would make scipy read out of bounds or build garbage, and NaN or
infinite values have no quantised code. Each block of X read by the export passes through here.
"""

from typing import Any

import numpy as np
from scipy import sparse

from .errors import PrepareError


def check_structure(chunk: Any, what: str) -> None:
    """Refuse structurally broken sparse data before scipy trusts it."""
    indptr, indices = chunk.indptr, chunk.indices
    if indptr.size and (np.any(np.diff(indptr) < 0) or indptr[-1] > indices.size):
        raise PrepareError(f"X is corrupt: its indptr decreases or overruns the data ({what})")
    limit = chunk.shape[0] if chunk.format == "csc" else chunk.shape[1]
    if indices.size and (indices.min() < 0 or indices.max() >= limit):
        raise PrepareError(f"X is corrupt: an index is outside the matrix ({what})")


def to_csc(block: Any, what: str) -> sparse.csc_matrix:
    """A block of X as float32 CSC, refusing corrupt structure and NaN or infinite values."""
    return finite_csc(checked(block, what), what)


def checked(block: Any, what: str) -> Any:
    """A dense block, or a sparse one as CSR or CSC whose structure has been checked."""
    fmt = getattr(block, "format", None)
    if fmt is None:
        return block
    matrix = block if fmt in ("csr", "csc") else block.tocsr()
    check_structure(matrix, what)
    return matrix


def finite_csc(matrix: Any, what: str) -> sparse.csc_matrix:
    """float32 CSC of a dense block or of a checked CSR/CSC one, refusing NaN and infinity."""
    if getattr(matrix, "format", None) is not None:
        result = sparse.csc_matrix(matrix).astype(np.float32, copy=False)
    else:
        result = sparse.csc_matrix(np.asarray(matrix, dtype=np.float32))
    if not np.isfinite(result.data).all():
        raise PrepareError(f"X has NaN or infinite values ({what})")
    return result


def row_range(chunk: Any, start: int, stop: int) -> Any:
    """Rows start:stop of a checked chunk, sharing its memory (scipy's row slicing copies)."""
    if getattr(chunk, "format", None) != "csr":
        return chunk[start:stop]
    low, high = int(chunk.indptr[start]), int(chunk.indptr[stop])
    return sparse.csr_matrix(
        (chunk.data[low:high], chunk.indices[low:high], chunk.indptr[start : stop + 1] - low),
        shape=(stop - start, chunk.shape[1]),
    )
