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
from .format import EDGE_SOURCES, EDGE_WEIGHTS, Encoding


@dataclass(frozen=True)
class Edges:
    sources: NDArray[np.unsignedinteger]
    destinations: NDArray[np.unsignedinteger]
    weights: NDArray[np.float64]
    max_neighbors: int
    index: Encoding
    """The encoding of the sources and destinations."""


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
    index = EDGE_SOURCES.narrowest(max(0, n_cells - 1))
    return Edges(
        sources=rows.astype(index.array_dtype),
        destinations=upper.indices.astype(index.array_dtype),
        weights=upper.data.astype(EDGE_WEIGHTS.sole_encoding.array_dtype),
        max_neighbors=int(degree.max()) if degree.size else 0,
        index=index,
    )
