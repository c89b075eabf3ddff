"""Small AnnData objects with exactly the features a test needs (fast to build, easy to check)."""

from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse


def make_adata(
    n_cells: int = 400,
    n_genes: int = 60,
    *,
    layout: str = "csr",
    scaled: bool = False,
    dtype: Any = np.float32,
    seed: int = 0,
) -> ad.AnnData:
    """Clusters in a 2D and 3D embedding, a PCA, mixed obs, sparse or dense X, a kNN graph."""
    rng = np.random.default_rng(seed)
    clusters = rng.integers(0, 4, n_cells)
    centres = rng.normal(0, 5, (4, 3))
    umap3 = centres[clusters] + rng.normal(0, 0.5, (n_cells, 3))
    if scaled:
        x: Any = rng.normal(0, 1, (n_cells, n_genes)).astype(dtype)
    else:
        mask = rng.random((n_cells, n_genes)) < 0.15
        values = np.log1p(rng.poisson(3, (n_cells, n_genes)) + 1.0) * mask
        x = values.astype(dtype)
        if layout == "csr":
            x = sparse.csr_matrix(x)
        elif layout == "csc":
            x = sparse.csc_matrix(x)
    cell_type = pd.Categorical.from_codes(clusters, ["B cell", "T cell", "NK", "Mono"])
    obs = pd.DataFrame(
        {
            "cell_type": cell_type,
            "total_counts": rng.gamma(2, 500, n_cells).astype(np.float32),
            "n_genes": rng.integers(100, 3000, n_cells),
            "is_doublet": rng.random(n_cells) < 0.1,
            "sample": rng.choice(["s1", "s2", "s3"], n_cells).astype(object),
        },
        index=[f"cell{i}" for i in range(n_cells)],
    )
    var = pd.DataFrame(index=[f"GENE{i}" for i in range(n_genes)])
    adata = ad.AnnData(X=x, obs=obs, var=var)
    adata.obsm["X_umap"] = umap3[:, :2].astype(np.float32)
    adata.obsm["X_umap_3d"] = umap3.astype(np.float32)
    adata.obsm["X_pca"] = rng.normal(0, 1, (n_cells, 10)).astype(np.float32)
    neighbours = 5
    rows = np.repeat(np.arange(n_cells), neighbours)
    cols = rng.integers(0, max(n_cells, 1), n_cells * neighbours)
    keep = rows != cols
    knn = sparse.csr_matrix(
        (rng.random(int(keep.sum())), (rows[keep], cols[keep])), shape=(n_cells, n_cells)
    )
    adata.obsp["connectivities"] = knn.maximum(knn.T).tocsr()
    return adata


def write_with_bad_value(adata: ad.AnnData, path: Path, cell: int, value: float) -> Path:
    """``adata`` written to ``path`` as CSR with the first stored value of row ``cell`` replaced
    by ``value`` (a NaN or an infinity, which the export refuses)."""
    x = sparse.csr_matrix(adata.X)
    x.data[x.indptr[cell]] = value
    adata.X = x
    adata.write_h5ad(path)
    return path
