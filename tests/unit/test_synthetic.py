"""The synthetic generator is the source of every demo and benchmark dataset: pin its contract."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

from cellucid_cloud.demo import synthetic
from cellucid_cloud.demo.synthetic import CELL_TYPES, make_synthetic, write_synthetic_h5ad

N_CELLS = 3_000
N_GENES = 200


@pytest.fixture(scope="module")
def adata() -> ad.AnnData:
    return make_synthetic(N_CELLS, N_GENES, seed=7, with_velocity=True)


def test_shapes_and_dtypes(adata: ad.AnnData) -> None:
    assert adata.shape == (N_CELLS, N_GENES)
    assert sp.issparse(adata.X)
    x = sp.csr_matrix(adata.X)
    assert x.dtype == np.float32
    assert x.has_sorted_indices
    x.check_format(full_check=True)
    assert adata.obsm["X_umap"].shape == (N_CELLS, 2)
    assert adata.obsm["X_umap_3d"].shape == (N_CELLS, 3)
    assert adata.obsm["X_pca"].shape == (N_CELLS, 50)
    assert adata.obsm["velocity_umap"].shape == (N_CELLS, 2)
    for key in ("X_umap", "X_umap_3d", "X_pca", "velocity_umap"):
        assert adata.obsm[key].dtype == np.float32
        assert np.isfinite(adata.obsm[key]).all()
    assert adata.var_names[0] == "GENE0001"
    assert adata.var["symbol"].is_unique
    assert adata.obs_names.is_unique


def test_density_and_values(adata: ad.AnnData) -> None:
    x = sp.csr_matrix(adata.X)
    density = x.nnz / (N_CELLS * N_GENES)
    assert 0.08 < density < 0.12
    assert (x.data > 0).all()
    assert len(np.unique(x.data)) > 1000  # many distinct floats, as real log-normalised data
    assert np.array_equal(adata.obs["n_genes"].to_numpy(), np.diff(x.indptr))


def test_obs_columns(adata: ad.AnnData) -> None:
    obs = adata.obs
    assert list(obs.columns) == [
        "cell_type",
        "batch",
        "sample",
        "is_doublet",
        "total_counts",
        "n_genes",
        "pct_mito",
    ]
    assert list(obs["cell_type"].cat.categories) == list(CELL_TYPES[:12])
    assert set(obs["cell_type"].unique()) == set(CELL_TYPES[:12])
    assert len(obs["batch"].cat.categories) == 4
    assert len(obs["sample"].cat.categories) == 120
    assert obs["is_doublet"].dtype == bool
    assert obs["total_counts"].dtype == np.float32
    assert obs["pct_mito"].dtype == np.float32
    assert ((obs["pct_mito"] >= 0) & (obs["pct_mito"] <= 100)).all()


def test_connectivities_symmetric(adata: ad.AnnData) -> None:
    conn = sp.csr_matrix(adata.obsp["connectivities"])
    assert conn.shape == (N_CELLS, N_CELLS)
    assert abs(conn - conn.T).max() == 0
    assert conn.diagonal().max() == 0
    assert (conn.data > 0).all()  # no stored zeros
    assert np.issubdtype(conn.dtype, np.floating)
    degree = np.diff(conn.indptr)
    assert degree.min() >= 15
    dist = sp.csr_matrix(adata.obsp["distances"])
    assert (np.diff(dist.indptr) == 15).all()
    assert (dist.data > 0).all()


def test_marker_genes_show_structure(adata: ad.AnnData) -> None:
    x = sp.csr_matrix(adata.X)
    labels = adata.obs["cell_type"].cat.codes.to_numpy()
    marker = int(np.flatnonzero(adata.var["is_marker_of"] == CELL_TYPES[0])[0])
    column = x[:, marker].toarray().ravel()
    assert column[labels == 0].mean() > 3 * column[labels != 0].mean()


def test_clusters_separate_in_umap(adata: ad.AnnData) -> None:
    umap = adata.obsm["X_umap"]
    labels = adata.obs["cell_type"].cat.codes.to_numpy()
    spread = umap.std(axis=0).mean()
    centres = np.stack([umap[labels == c].mean(axis=0) for c in range(12)])
    within = np.mean([umap[labels == c].std(axis=0).mean() for c in range(12)])
    assert within < spread
    assert len(np.unique(np.round(centres, 3), axis=0)) == 12


def test_deterministic_by_seed() -> None:
    a = make_synthetic(500, 120, seed=3)
    b = make_synthetic(500, 120, seed=3)
    c = make_synthetic(500, 120, seed=4)
    assert (sp.csr_matrix(a.X) != sp.csr_matrix(b.X)).nnz == 0
    assert np.array_equal(a.obsm["X_umap"], b.obsm["X_umap"])
    assert a.obs.equals(b.obs)
    assert (sp.csr_matrix(a.obsp["connectivities"]) != b.obsp["connectivities"]).nnz == 0
    assert not np.array_equal(a.obsm["X_umap"], c.obsm["X_umap"])


def test_options() -> None:
    small = make_synthetic(200, 30, n_clusters=3, with_knn=False, density=0.3)
    assert "connectivities" not in small.obsp
    assert "velocity_umap" not in small.obsm
    assert small.obs["cell_type"].cat.categories.size == 3
    assert 0.25 < sp.csr_matrix(small.X).nnz / (200 * 30) < 0.35
    many = make_synthetic(400, 60, n_clusters=20, with_knn=False)
    assert many.obs["cell_type"].cat.categories[-1] == "Cluster 20"
    with pytest.raises(ValueError, match="positive"):
        make_synthetic(0, 10)


def test_write_h5ad_roundtrip(tmp_path: Path) -> None:
    path = write_synthetic_h5ad(tmp_path / "sub" / "s.h5ad", 300, 40, seed=1)
    assert path.exists()
    assert not list(path.parent.glob(".*.tmp"))
    back = ad.read_h5ad(path)
    assert back.shape == (300, 40)
    assert back.obs["cell_type"].dtype == "category"
    assert "connectivities" in back.obsp


def test_a_large_file_is_streamed_with_the_same_contents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond STREAM_ABOVE values X goes to the file as it is generated (a benchmark's
    10^9 values would not fit in memory twice); anndata reads back the same AnnData."""
    whole = ad.read_h5ad(write_synthetic_h5ad(tmp_path / "whole.h5ad", 500, 60, seed=2))
    monkeypatch.setattr(synthetic, "STREAM_ABOVE", 100)
    streamed = ad.read_h5ad(write_synthetic_h5ad(tmp_path / "streamed.h5ad", 500, 60, seed=2))
    assert (sp.csr_matrix(whole.X) != sp.csr_matrix(streamed.X)).nnz == 0
    assert whole.obs.equals(streamed.obs) and whole.var.equals(streamed.var)
    assert sorted(whole.obsm) == sorted(streamed.obsm)
    for key in whole.obsm:
        assert np.array_equal(whole.obsm[key], streamed.obsm[key])
    for key in ("connectivities", "distances"):
        assert (whole.obsp[key] != streamed.obsp[key]).nnz == 0
    assert whole.uns["synthetic"] == streamed.uns["synthetic"]
