"""The kNN graph as sorted upper-triangle edge pairs (src < dst), float64 weights.

scanpy's obsp['connectivities'] is symmetric; a graph that is not is made symmetric with the
larger of the two directed weights rather than refused, and the diagonal and stored zeros are
dropped, so the viewer always receives an undirected simple graph.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from .errors import PrepareError


@dataclass(frozen=True)
class Edges:
    sources: NDArray[np.unsignedinteger]
    destinations: NDArray[np.unsignedinteger]
    weights: NDArray[np.float64]
    max_neighbors: int

    @property
    def index_dtype(self) -> str:
        return "uint16" if self.sources.dtype.itemsize == 2 else "uint32"


def edge_pairs(connectivities: Any, n_cells: int) -> Edges:
    """Upper-triangle edges sorted by (src, dst), indices as narrow as the cell count allows."""
    matrix = sparse.csr_matrix(connectivities, dtype=np.float64)
    if not np.isfinite(matrix.data).all():
        raise PrepareError("obsp['connectivities'] has NaN or infinite weights")
    if (matrix.data < 0).any():
        raise PrepareError("obsp['connectivities'] has negative weights")
    matrix.sum_duplicates()
    symmetric = matrix.maximum(matrix.T).tocsr()
    symmetric.setdiag(0)
    symmetric.eliminate_zeros()
    degree = np.diff(symmetric.indptr)
    upper = sparse.triu(symmetric, k=1).tocsr()
    upper.sort_indices()
    rows = np.repeat(np.arange(n_cells, dtype=np.int64), np.diff(upper.indptr))
    dtype = np.dtype("<u2") if n_cells <= 65536 else np.dtype("<u4")
    return Edges(
        sources=rows.astype(dtype),
        destinations=upper.indices.astype(dtype),
        weights=upper.data.astype("<f8"),
        max_neighbors=int(degree.max()) if degree.size else 0,
    )
