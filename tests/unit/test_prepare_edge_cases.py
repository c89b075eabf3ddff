"""Edge cases of real data: tiny, constant, missing, duplicated, unicode, many categories."""

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from cellucid_cloud import PrepareError, prepare
from cellucid_cloud.export.centroids import CategoryGroups, centroids, outlier_quantiles
from cellucid_cloud.export.reader import ExportReader
from tests.export_data import make_adata


def test_one_cell(tmp_path: Path) -> None:
    adata = make_adata(n_cells=1, n_genes=3)
    prepare(adata, tmp_path / "out")
    reader = ExportReader(tmp_path / "out")
    assert reader.n_cells == 1
    np.testing.assert_array_equal(reader.embedding("X_umap"), [[0.0, 0.0]])
    np.testing.assert_allclose(reader.gene(0), adata.X.toarray()[:, 0], atol=1e-6)


def test_constant_zero_and_negative_genes(tmp_path: Path) -> None:
    adata = make_adata(n_cells=50, n_genes=4, layout="dense")
    x = np.zeros((50, 4), dtype=np.float32)
    x[:, 0] = 2.5
    x[:, 2] = np.linspace(-3, 1, 50)
    x[::7, 3] = -1.25
    adata.X = sparse.csr_matrix(x)
    prepare(adata, tmp_path / "out")
    reader = ExportReader(tmp_path / "out")
    var = reader.manifests.var
    assert var is not None
    assert var.fields[0].bounds == (2.5, 2.5) and var.fields[1].bounds == (0.0, 0.0)
    np.testing.assert_array_equal(reader.gene(0), np.full(50, 2.5, np.float32))
    np.testing.assert_array_equal(reader.gene(1), np.zeros(50, np.float32))
    np.testing.assert_allclose(reader.gene(2), x[:, 2], atol=4 / 254 + 1e-6)
    np.testing.assert_allclose(reader.gene(3), x[:, 3], atol=1.25 / 254 + 1e-6)


def test_nan_in_continuous_obs(tmp_path: Path) -> None:
    adata = make_adata(n_cells=30)
    values = adata.obs["total_counts"].to_numpy().copy()
    values[[1, 5]] = np.nan
    adata.obs["total_counts"] = values
    prepare(adata, tmp_path / "q")
    decoded = ExportReader(tmp_path / "q").continuous("total_counts")
    assert np.isnan(decoded[[1, 5]]).all() and np.isfinite(np.delete(decoded, [1, 5])).all()
    with pytest.raises(PrepareError, match=r"total_counts.*2 missing"):
        prepare(adata, tmp_path / "f", obs_quantization=0)
    assert not (tmp_path / "f").exists()


def test_empty_and_missing_categories(tmp_path: Path) -> None:
    adata = make_adata(n_cells=40)
    labels = pd.Categorical(["a", None] * 20, categories=["a", "unused"])
    adata.obs["label"] = labels
    prepare(adata, tmp_path / "out")
    categories, codes = ExportReader(tmp_path / "out").categorical("label")
    assert categories == ["a", "unused"]
    assert (codes[1::2] == -1).all() and (codes[::2] == 0).all()


def test_wide_category_fields_get_wider_codes(tmp_path: Path) -> None:
    n = 70_000
    adata = ad.AnnData(obs=pd.DataFrame({"barcode": [f"b{i}" for i in range(n)]}))
    adata.obsm["X_umap"] = np.random.default_rng(0).random((n, 2)).astype(np.float32)
    prepare(adata, tmp_path / "out")
    reader = ExportReader(tmp_path / "out")
    obs = reader.manifests.obs
    assert obs is not None and obs.categoricalFields[0].codes_dtype == "uint32"
    categories, codes = reader.categorical("barcode")
    assert len(categories) == n and codes.max() == n - 1
    with pytest.raises(PrepareError, match="more than uint16 can hold"):
        prepare(adata, tmp_path / "narrow", obs_categorical_dtype="uint16")


def test_duplicate_and_unicode_names(tmp_path: Path) -> None:
    adata = make_adata(n_cells=20, n_genes=4)
    adata.var_names = ["MATR3", "MATR3", "Gène-β", "基因"]
    adata.obs["細胞型"] = adata.obs["cell_type"]
    result = prepare(adata, tmp_path / "out")
    reader = ExportReader(tmp_path / "out")
    assert reader.gene_names == ["MATR3", "MATR3-1", "Gène-β", "基因"]
    assert any("duplicate gene names" in w for w in result.warnings)
    var = reader.manifests.var
    assert var is not None and var.gene_name_sets[0].renamed == [["MATR3", "MATR3-1"]]
    assert reader.categorical("細胞型")[0] == ["B cell", "T cell", "NK", "Mono"]
    assert "基因" in (tmp_path / "out" / "var_manifest.json").read_text("utf-8")


def test_gene_names_from_a_column(tmp_path: Path) -> None:
    adata = make_adata(n_cells=20, n_genes=3)
    adata.var["symbol"] = ["CD3E", "", "CD3E"]
    prepare(adata, tmp_path / "out", gene_names_column="symbol")
    reader = ExportReader(tmp_path / "out")
    assert reader.gene_names == ["CD3E", "GENE1", "CD3E-1"]
    var = reader.manifests.var
    assert var is not None and var.gene_name_sets[0].filled_from_index == 1


def test_wider_embedding_by_columns_and_vector_fields(tmp_path: Path) -> None:
    adata = make_adata(n_cells=60)
    adata.obsm["velocity_umap"] = np.ones((60, 2), dtype=np.float32)
    prepare(
        adata, tmp_path / "out", embeddings=[{"key": "X_pca", "columns": (2, 0)}, {"key": "X_umap"}]
    )
    reader = ExportReader(tmp_path / "out")
    items = reader.manifests.identity.embeddings.items
    assert set(items) == {"X_pca[2,0]", "X_umap"}
    assert items["X_pca[2,0]"].source.columns == [2, 0]
    raw = adata.obsm["X_pca"][:, [2, 0]].astype(np.float64)
    span = (raw.max(0) - raw.min(0)).max()
    np.testing.assert_allclose(
        reader.embedding("X_pca[2,0]"), (raw - (raw.max(0) + raw.min(0)) / 2) * 2 / span, atol=1e-6
    )
    umap = adata.obsm["X_umap"].astype(np.float64)
    scale = 2 / (umap.max(0) - umap.min(0)).max()
    np.testing.assert_allclose(reader.vectors("velocity", "X_umap"), scale, rtol=1e-6)


def _loop_centroid(
    coords: np.ndarray, members: np.ndarray, q: float, k: int
) -> tuple[list[float], int]:
    pts = coords[members].astype(np.float64)
    centre = pts.mean(axis=0)
    if len(pts) > k:
        d = np.linalg.norm(pts - centre, axis=1)
        keep = d <= np.quantile(d, q)
        if keep.sum() >= k:
            return list(pts[keep].mean(axis=0)), int(keep.sum())
    return list(centre), len(pts)


def test_cells_all_in_a_category_give_the_bits_of_the_general_path() -> None:
    """With no missing category, centroids and outliers skip gathering the members; one
    missing cell appended (the general path, same members in the same order) changes no bit."""
    rng = np.random.default_rng(4)
    n = 70_000  # more than one step of the distance loop
    codes = rng.integers(0, 30, n)
    coords = rng.normal(size=(n, 2)).astype(np.float32)
    categories = [f"c{i}" for i in range(30)]
    complete = CategoryGroups.of(codes, 30)
    general = CategoryGroups.of(np.append(codes, -1), 30)
    assert complete.complete and not general.complete
    extra = np.vstack([coords, rng.normal(size=(1, 2)).astype(np.float32)])
    assert centroids(complete, coords, categories, 0.95, 10) == centroids(
        general, extra, categories, 0.95, 10
    )
    quantiles = outlier_quantiles(complete, coords, 10)
    assert np.array_equal(quantiles, outlier_quantiles(general, extra, 10)[:n])


def test_vectorised_centroids_and_outliers_match_a_plain_loop() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    codes = rng.integers(-1, 40, n)
    coords = rng.normal(size=(n, 2)).astype(np.float32)
    latent = rng.normal(size=(n, 7)).astype(np.float32)
    categories = [f"c{i}" for i in range(45)]
    groups = CategoryGroups.of(codes, len(categories))
    found = {c["category"]: c for c in centroids(groups, coords, categories, 0.95, 10)}
    quantiles = outlier_quantiles(groups, latent, 10)
    for code in range(45):
        members = np.nonzero(codes == code)[0]
        if len(members) < 10:
            assert f"c{code}" not in found
            assert np.isnan(quantiles[members]).all()
            continue
        position, used = _loop_centroid(coords, members, 0.95, 10)
        np.testing.assert_allclose(found[f"c{code}"]["position"], position, atol=1e-9)
        assert found[f"c{code}"]["n_points"] == used
        pts = latent[members].astype(np.float64)
        d = np.linalg.norm(pts - pts.mean(axis=0), axis=1)
        expected = np.searchsorted(np.sort(d), d, side="right") / len(members)
        np.testing.assert_allclose(quantiles[members], expected, rtol=1e-6)
    assert np.isnan(quantiles[codes == -1]).all()
