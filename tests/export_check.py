"""Check an export folder against the AnnData it came from, whatever the AnnData holds: every
embedding, obs field, gene and graph edge the export declares is decoded and compared."""

from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from cellucid_cloud.export.layout import files_on_disk
from cellucid_cloud.export.quantize import MAX_CODE
from cellucid_cloud.export.reader import ExportReader


def _dense(x: Any) -> np.ndarray:
    return np.asarray(x.toarray() if sparse.issparse(x) else x, dtype=np.float64)


def _assert_close(decoded: np.ndarray, original: np.ndarray, bits: int | None, what: str) -> None:
    """Equal as float32 when not quantised; else within one quantisation step; NaN where
    the original is missing."""
    original = np.asarray(original, dtype=np.float64)
    missing = np.isnan(original)
    np.testing.assert_array_equal(np.isnan(decoded), missing, err_msg=what)
    kept, got = original[~missing], decoded[~missing]
    if not bits:
        np.testing.assert_array_equal(got, kept.astype(np.float32), err_msg=what)
        return
    as32 = kept.astype(np.float32)
    step = float(as32.max() - as32.min()) / MAX_CODE[bits] if as32.size else 0.0
    np.testing.assert_allclose(got, kept, rtol=0, atol=step * (1 + 1e-6) + 1e-6, err_msg=what)


def _normalised(values: np.ndarray) -> np.ndarray:
    raw = values.astype(np.float32).astype(np.float64)
    low, high = raw.min(axis=0), raw.max(axis=0)
    span = float((high - low).max())
    return (raw - (low + high) / 2) * (2 / span if span > 0 else 1.0)


def _matrix(adata: ad.AnnData, name: str) -> tuple[Any, pd.DataFrame]:
    if name == "X":
        return adata.X, adata.var
    if name == "raw.X":
        assert adata.raw is not None
        return adata.raw.X, adata.raw.var
    return adata.layers[name.removeprefix("layers/")], adata.var


def _label(value: Any) -> Any:
    return bool(value) if isinstance(value, np.bool_) else value


def assert_export_matches(adata: ad.AnnData, out: Path) -> ExportReader:
    """Every payload of the export at ``out`` decodes to ``adata``'s values."""
    reader = ExportReader(out)
    identity = reader.manifests.identity
    settings = identity.export_settings
    assert reader.manifests.declared_paths() == files_on_disk(out)
    assert identity.stats.n_cells == adata.n_obs
    for embedding_id, item in identity.embeddings.items.items():
        assert item.source.key is not None
        values = np.asarray(adata.obsm[item.source.key])[:, item.source.columns]
        np.testing.assert_allclose(
            reader.embedding(embedding_id), _normalised(values), atol=1e-6, err_msg=embedding_id
        )
    for field in identity.obs_fields:
        column = adata.obs[field.key]
        if field.kind == "continuous":
            expected = pd.to_numeric(column).to_numpy(dtype=np.float64, na_value=np.nan)
            bits = settings.obs_continuous_quantization
            _assert_close(reader.continuous(field.key), expected, bits, field.key)
            continue
        categorical = column.astype("category")
        categories, codes = reader.categorical(field.key)
        assert categories == [_label(c) for c in categorical.cat.categories], field.key
        np.testing.assert_array_equal(codes, categorical.cat.codes.to_numpy(), err_msg=field.key)
    if identity.stats.n_genes:
        assert identity.expression_matrix is not None
        matrix, var = _matrix(adata, identity.expression_matrix)
        assert identity.stats.n_genes == len(var)
        x = _dense(matrix)
        for gene in range(len(var)):
            _assert_close(reader.gene(gene), x[:, gene], settings.var_quantization, f"gene {gene}")
    if identity.stats.has_connectivity:
        graph = sparse.csr_matrix(adata.obsp["connectivities"])
        upper = sparse.triu(graph.maximum(graph.T), k=1).tocoo()
        upper.eliminate_zeros()
        order = np.lexsort((upper.col, upper.row))
        src, dst, weights = reader.edges()
        np.testing.assert_array_equal(src, upper.row[order])
        np.testing.assert_array_equal(dst, upper.col[order])
        np.testing.assert_allclose(weights, upper.data[order])
    return reader
