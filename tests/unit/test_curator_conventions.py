"""The conventions of the files curators have (issue 12, item 2): CELLxGENE's uns['title'] and
uns['default_embedding'], cellxgene's embeddings from any obsm array, the gene name columns of
CELLxGENE and scanpy's 10x readers, and scanpy's category colours."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellucid_cloud import PrepareError, prepare
from cellucid_cloud.export.reader import ExportReader
from tests.export_data import make_adata


def _var(reader: ExportReader) -> list[tuple[str | None, list[str | None] | None]]:
    var = reader.manifests.var
    assert var is not None
    return [(s.source, s.names) for s in var.gene_name_sets]


def test_cellxgene_schema_file(tmp_path: Path) -> None:
    adata = make_adata(n_cells=120, n_genes=4)
    ids = ["ENSG01", "ENSG02", "ENSG03", "ENSG04"]
    symbols = ["CD3E", "MS4A1", "CD3E", None]
    adata.var_names = ids
    adata.var["feature_name"] = pd.Categorical(symbols)
    adata.obsm["X_tsne"] = adata.obsm["X_umap"] * 2
    adata.uns["title"] = "Lung atlas: immune cells"
    adata.uns["default_embedding"] = "X_tsne"
    path = tmp_path / "cxg.h5ad"
    adata.write_h5ad(path)
    result = prepare(path, tmp_path / "out")
    reader = ExportReader(tmp_path / "out")
    identity = reader.manifests.identity
    assert identity.name == "Lung atlas: immune cells"
    assert identity.id == "cxg"
    assert identity.embeddings.defaults["2d"] == "X_tsne"
    assert identity.embeddings.default_dimension == 2
    assert reader.gene_names == ["CD3E", "MS4A1", "CD3E-1", "ENSG04"]
    assert _var(reader) == [("feature_name", None), (None, ids)]
    assert any(
        "duplicate gene names in the var column 'feature_name'" in w for w in result.warnings
    )


def test_a_given_name_wins_over_the_title(tmp_path: Path) -> None:
    adata = make_adata(n_cells=30, n_genes=2)
    adata.uns["title"] = "From the file"
    prepare(adata, tmp_path / "out", name="Chosen")
    assert ExportReader(tmp_path / "out").manifests.identity.name == "Chosen"


@pytest.mark.parametrize(
    ("index", "columns", "shown", "sets"),
    [
        # scanpy.read_10x_h5(var_names="gene_symbols"): symbols index, ids in gene_ids
        (["CD3E", "MS4A1"], {"gene_ids": ["ENSG1", "ENSG2"]}, ["CD3E", "MS4A1"],
         [(None, None), ("gene_ids", ["ENSG1", "ENSG2"])]),
        # scanpy.read_10x_h5(var_names="gene_ids"): ids index, symbols in gene_symbols
        (["ENSG1", "ENSG2"], {"gene_symbols": ["CD3E", "MS4A1"]}, ["CD3E", "MS4A1"],
         [("gene_symbols", None), (None, ["ENSG1", "ENSG2"])]),
        # no name columns: the index alone
        (["A", "B"], {"other": ["x", "y"]}, ["A", "B"], [(None, None)]),
    ],
)  # fmt: skip
def test_gene_names_of_scanpy_10x_files(
    tmp_path: Path,
    index: list[str],
    columns: dict[str, list[str]],
    shown: list[str],
    sets: list[tuple[str | None, list[str] | None]],
) -> None:
    adata = make_adata(n_cells=40, n_genes=2)
    adata.var = pd.DataFrame(columns, index=index)
    prepare(adata, tmp_path / "out")
    reader = ExportReader(tmp_path / "out")
    assert reader.gene_names == shown
    assert _var(reader) == sets


def test_the_index_can_be_chosen_over_symbols(tmp_path: Path) -> None:
    adata = make_adata(n_cells=40, n_genes=2)
    adata.var = pd.DataFrame({"feature_name": ["CD3E", "MS4A1"]}, index=["ENSG1", "ENSG2"])
    prepare(adata, tmp_path / "out", gene_names_column="_index")
    reader = ExportReader(tmp_path / "out")
    assert reader.gene_names == ["ENSG1", "ENSG2"]
    assert _var(reader) == [(None, None), ("feature_name", ["CD3E", "MS4A1"])]
    with pytest.raises(PrepareError, match="var has no column 'symbol' for gene names"):
        prepare(adata, tmp_path / "no", gene_names_column="symbol")


def test_a_file_with_only_a_wide_pca(tmp_path: Path) -> None:
    adata = make_adata(n_cells=80, n_genes=3)
    pca = np.asarray(adata.obsm["X_pca"])
    adata.obsm.clear()
    adata.obsm["X_pca"] = np.tile(pca, 5)
    prepare(adata, tmp_path / "out")
    embeddings = ExportReader(tmp_path / "out").manifests.identity.embeddings
    assert list(embeddings.items) == ["X_pca[0,1]"]
    assert embeddings.items["X_pca[0,1]"].label == "PCA 1\u20132"
    assert embeddings.defaults == {"2d": "X_pca[0,1]"}


def test_a_3d_embedding_is_offered_not_made_default(tmp_path: Path) -> None:
    adata = make_adata(n_cells=80, n_genes=3)
    del adata.obsm["X_umap_3d"]
    adata.obsm["X_spatial3"] = np.asarray(adata.obsm["X_pca"])[:, :3]
    prepare(adata, tmp_path / "out")
    embeddings = ExportReader(tmp_path / "out").manifests.identity.embeddings
    assert embeddings.default_dimension == 2
    assert embeddings.defaults == {"2d": "X_umap", "3d": "X_spatial3"}
    assert {"X_spatial3[0,1]", "X_spatial3", "X_pca[0,1]"} <= set(embeddings.items)


def test_a_suggested_default_that_is_not_exported_is_ignored(tmp_path: Path) -> None:
    adata = make_adata(n_cells=50, n_genes=2)
    adata.uns["default_embedding"] = "X_draw_graph_fa"
    result = prepare(adata, tmp_path / "out")
    assert ExportReader(tmp_path / "out").manifests.identity.embeddings.defaults["2d"] == "X_umap"
    assert any("uns['default_embedding'] names 'X_draw_graph_fa'" in w for w in result.warnings)


def test_category_colours_are_carried(tmp_path: Path) -> None:
    adata = make_adata(n_cells=60, n_genes=2)
    adata.uns["cell_type_colors"] = np.array(["#1F77B4", "#ff7f0e", "#2ca02cff", "#abc"])
    adata.uns["sample_colors"] = ["#111111", "#222222"]
    adata.uns["is_doublet_colors"] = ["red", "#00ff00"]
    result = prepare(adata, tmp_path / "out")
    obs = ExportReader(tmp_path / "out").manifests.obs
    assert obs is not None
    assert obs.category_colors == {"cell_type": ["#1f77b4", "#ff7f0e", "#2ca02c", "#aabbcc"]}
    assert "uns['sample_colors'] ignored: 2 colours for 3 categories" in result.warnings
    assert "uns['is_doublet_colors'] ignored: 'red' is not a #rrggbb colour" in result.warnings
    raw = (tmp_path / "out" / "obs_manifest.json").read_text()
    assert raw.index('"_categoricalFields"') < raw.index('"category_colors"')
