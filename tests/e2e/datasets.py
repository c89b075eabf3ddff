"""A synthetic dataset whose geometry the browser tests control.

Six tight clusters on a ring (well apart, so a lasso around one never touches another), plus one
isolated cell at the centre whose category is missing. One marker gene per cluster, a continuous
field that is missing for the last cluster, a 3D embedding.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

CLUSTERS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta")
PER_CLUSTER = 200
N_CELLS = len(CLUSTERS) * PER_CLUSTER + 1
RADIUS = 10.0
SPREAD = 0.8
N_GENES = 20


def clusters_adata(seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    k = len(CLUSTERS)
    labels = rng.permutation(np.repeat(np.arange(k), PER_CLUSTER))
    angle = 2 * np.pi * np.arange(k) / k
    centres = np.stack([np.cos(angle), np.sin(angle)], axis=1) * RADIUS
    noise = np.clip(rng.normal(0, SPREAD, (labels.size, 2)), -2.5 * SPREAD, 2.5 * SPREAD)
    umap = np.vstack([centres[labels] + noise, [[0.0, 0.0]]]).astype(np.float32)
    centres3 = np.column_stack([centres, np.where(np.arange(k) % 2, 4.0, -4.0)])
    noise3 = np.clip(rng.normal(0, SPREAD, (labels.size, 3)), -2.5 * SPREAD, 2.5 * SPREAD)
    umap3 = np.vstack([centres3[labels] + noise3, [[0.0, 0.0, 0.0]]]).astype(np.float32)

    codes = np.append(labels, -1)
    n = codes.size
    x = np.zeros((n, N_GENES), dtype=np.float32)
    for cluster in range(k):  # gene MARKc is expressed only in cluster c
        member = codes == cluster
        x[member, cluster] = rng.uniform(2.0, 4.0, int(member.sum()))
    background = rng.random((n, N_GENES - k)) < 0.2
    x[:, k:] = np.where(background, rng.uniform(0.5, 3.0, background.shape), 0.0)
    score = np.where(codes == k - 1, np.nan, codes + rng.uniform(0, 0.5, n)).astype(np.float32)
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical.from_codes(codes, categories=list(CLUSTERS)),
            "score": score,
            "batch": pd.Categorical.from_codes(rng.integers(0, 2, n), categories=["b1", "b2"]),
        },
        index=[f"cell{i}" for i in range(n)],
    )
    genes = [f"MARK{c}" for c in range(k)] + [f"GENE{g:02d}" for g in range(k, N_GENES)]
    adata = ad.AnnData(X=sparse.csr_matrix(x), obs=obs, var=pd.DataFrame(index=genes))
    adata.obsm["X_umap"] = umap
    adata.obsm["X_umap_3d"] = umap3
    return adata


def cluster_cells(adata: ad.AnnData, name: str) -> np.ndarray:
    """Row positions of one cluster's cells, ascending."""
    return np.flatnonzero(np.asarray(adata.obs["cell_type"] == name))
