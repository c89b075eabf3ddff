"""AnnData files in the layout anndata wrote before 0.7, written with h5py.

As anndata 0.6 wrote them (compare anndata's own v0.5.0 archive): obs, var and obsm as
compound datasets (the index first, as fixed-length bytes), categorical columns as integer
codes with their labels in ``uns['<column>_categories']``, sparse matrices as groups with
``h5sparse_format`` / ``h5sparse_shape`` attributes, raw as ``raw.X`` / ``raw.var``, and the
neighbour graph under ``uns['neighbors']``.
"""

from pathlib import Path
from typing import Any, Literal, cast

import anndata as ad
import h5py
import numpy as np
import pandas as pd
from scipy import sparse

MatrixFormat = Literal["dense", "csr", "csc"]


def _bytes(values: Any) -> np.ndarray:
    return np.array([str(v).encode() for v in values], dtype="S")


def _code_dtype(n_categories: int) -> str:
    return "i1" if n_categories < 127 else "i2" if n_categories < 32767 else "i4"


def _frame(frame: pd.DataFrame, uns: dict[str, np.ndarray]) -> np.ndarray:
    """A compound array: the index, then each column (categories as codes, labels to uns)."""
    columns: dict[str, np.ndarray] = {"index": _bytes(frame.index)}
    for name, series in frame.items():
        key = str(name)
        if isinstance(series.dtype, pd.CategoricalDtype):
            categories = series.cat.categories
            uns[f"{key}_categories"] = _bytes(categories)
            codes = series.cat.codes.to_numpy()
            columns[key] = codes.astype(_code_dtype(len(categories)))
        elif series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            columns[key] = _bytes(series)
        else:
            columns[key] = series.to_numpy()
    n = len(frame)
    table = np.empty(n, dtype=[(key, values.dtype) for key, values in columns.items()])
    for key, values in columns.items():
        table[key] = values
    return table


def _matrix(group: h5py.Group, name: str, x: Any, fmt: MatrixFormat) -> None:
    if fmt == "dense":
        group.create_dataset(
            name, data=np.asarray(cast(Any, x).toarray() if sparse.issparse(x) else x)
        )
        return
    matrix = sparse.csr_matrix(x) if fmt == "csr" else sparse.csc_matrix(x)
    node = group.create_group(name)
    node.attrs["h5sparse_format"] = fmt
    node.attrs["h5sparse_shape"] = np.array(matrix.shape)
    for part in ("data", "indices", "indptr"):
        node.create_dataset(part, data=getattr(matrix, part))


def write_legacy_h5ad(
    adata: ad.AnnData,
    path: Path,
    *,
    x_format: MatrixFormat | None = "csr",
    raw_format: MatrixFormat = "csr",
    uns: dict[str, Any] | None = None,
) -> None:
    """Write ``adata`` as anndata 0.6 did. ``x_format=None`` leaves X out (raw.X must then
    hold the values); ``uns`` adds entries (strings as bytes, as 0.6 stored them)."""
    extra: dict[str, np.ndarray] = {}
    with h5py.File(path, "w") as handle:
        if x_format is not None:
            _matrix(handle, "X", adata.X, x_format)
        handle.create_dataset("obs", data=_frame(cast(pd.DataFrame, adata.obs), extra))
        handle.create_dataset("var", data=_frame(cast(pd.DataFrame, adata.var), extra))
        if len(adata.obsm):
            fields = [
                (k, np.asarray(v).dtype, np.asarray(v).shape[1:]) for k, v in adata.obsm.items()
            ]
            obsm = np.empty(adata.n_obs, dtype=fields)
            for key, values in adata.obsm.items():
                obsm[key] = np.asarray(values)
            handle.create_dataset("obsm", data=obsm)
        if adata.raw is not None:
            _matrix(handle, "raw.X", adata.raw.X, raw_format)
            handle.create_dataset("raw.var", data=_frame(adata.raw.var, extra))
        group = handle.create_group("uns")
        for key, value in {**extra, **(uns or {})}.items():
            group.create_dataset(key, data=value)
        for key, values in adata.uns.items():
            if key.endswith("_colors"):
                group.create_dataset(key, data=_bytes(values))
        if "connectivities" in adata.obsp:
            neighbors = group.create_group("neighbors")
            _matrix(neighbors, "connectivities", adata.obsp["connectivities"], "csr")
