"""Every payload of an export decodes back to the AnnData it came from."""

import json
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from cellucid_cloud import prepare
from cellucid_cloud.export.layout import files_on_disk
from cellucid_cloud.export.manifests import ObsManifest, VarManifest, dump_json
from cellucid_cloud.export.quantize import MAX_CODE
from cellucid_cloud.export.reader import ExportReader
from tests.export_data import make_adata


def _dense(x: Any) -> np.ndarray:
    return np.asarray(x.toarray() if sparse.issparse(x) else x, dtype=np.float32)


def _step(values: np.ndarray, bits: int) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max() - finite.min()) / MAX_CODE[bits] if finite.size else 0.0


def _assert_close(decoded: np.ndarray, original: np.ndarray, bits: int) -> None:
    if bits == 0:
        np.testing.assert_array_equal(decoded, original.astype(np.float32))
    else:
        tolerance = _step(original.astype(np.float32), bits) * (1 + 1e-6) + 1e-7
        np.testing.assert_allclose(decoded, original, rtol=0, atol=tolerance)


def _check_export(adata: ad.AnnData, out: Path, var_bits: int, obs_bits: int) -> ExportReader:
    reader = ExportReader(out)
    identity = reader.manifests.identity
    assert identity.stats.n_cells == adata.n_obs
    assert identity.stats.n_genes == adata.n_vars
    assert reader.manifests.declared_paths() == files_on_disk(out)
    x = _dense(adata.X)
    for g, name in enumerate(adata.var_names):
        _assert_close(reader.gene(name), x[:, g], var_bits)
    for key in ("total_counts", "n_genes"):
        _assert_close(reader.continuous(key), adata.obs[key].to_numpy(np.float64), obs_bits)
    for key in ("cell_type", "is_doublet", "sample"):
        categories, codes = reader.categorical(key)
        column = adata.obs[key].astype("category")
        assert categories == [
            c if not isinstance(c, np.bool_) else bool(c) for c in column.cat.categories
        ]
        np.testing.assert_array_equal(codes, column.cat.codes.to_numpy())
    for embedding_id in ("X_umap", "X_umap_3d"):
        coords = reader.embedding(embedding_id)
        raw = adata.obsm[embedding_id].astype(np.float64)
        assert coords.min() >= -1 and coords.max() <= 1
        span = raw.max(axis=0) - raw.min(axis=0)
        expected = (raw - (raw.max(axis=0) + raw.min(axis=0)) / 2) * (2 / span.max())
        np.testing.assert_allclose(coords, expected, atol=1e-6)
    src, dst, weights = reader.edges()
    upper = sparse.triu(adata.obsp["connectivities"], k=1).tocoo()
    order = np.lexsort((upper.col, upper.row))
    np.testing.assert_array_equal(src, upper.row[order])
    np.testing.assert_array_equal(dst, upper.col[order])
    np.testing.assert_array_equal(weights, upper.data[order])
    assert np.all(src < dst)
    return reader


@pytest.mark.parametrize(
    ("layout", "scaled", "var_bits", "obs_bits", "compression"),
    [
        ("csr", False, 8, 16, 6),
        ("csc", False, 16, 8, 1),
        ("dense", True, 8, 16, 6),
        ("dense", True, 0, 0, 0),
        ("csr", False, 0, 0, 9),
    ],
)
def test_h5ad_roundtrip(
    tmp_path: Path, layout: str, scaled: bool, var_bits: int, obs_bits: int, compression: int
) -> None:
    adata = make_adata(layout=layout, scaled=scaled)
    path = tmp_path / "in.h5ad"
    adata.write_h5ad(path)
    out = tmp_path / "out"
    prepare(
        path,
        out,
        dataset_id="ds",
        var_quantization=var_bits,
        obs_quantization=obs_bits,
        compression=compression,
        memory_budget_mb=16,
    )
    reader = _check_export(adata, out, var_bits, obs_bits)
    gz = all(
        p.endswith(".gz") for p in reader.manifests.declared_paths() if not p.endswith(".json")
    )
    assert gz == bool(compression)


def test_in_memory_float64_and_zarr(tmp_path: Path) -> None:
    adata = make_adata(dtype=np.float64, layout="csr")
    prepare(adata, tmp_path / "mem", dataset_id="mem")
    _check_export(adata, tmp_path / "mem", 8, 16)
    adata.write_zarr(tmp_path / "in.zarr")
    prepare(tmp_path / "in.zarr", tmp_path / "zarr", dataset_id="z")
    _check_export(adata, tmp_path / "zarr", 8, 16)
    assert (tmp_path / "mem" / "var" / "0.values.u8.gz").read_bytes() == (
        tmp_path / "zarr" / "var" / "0.values.u8.gz"
    ).read_bytes()


def test_gzip_members_are_deterministic_and_standard(tmp_path: Path) -> None:
    adata = make_adata()
    path = tmp_path / "in.h5ad"
    adata.write_h5ad(path)
    prepare(path, tmp_path / "a")
    prepare(path, tmp_path / "b", workers=1)
    files = files_on_disk(tmp_path / "a")
    assert files == files_on_disk(tmp_path / "b")
    for name in files:
        first = (tmp_path / "a" / name).read_bytes()
        assert first == (tmp_path / "b" / name).read_bytes(), name
        if name.endswith(".gz"):
            assert first[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", name


def test_manifest_tuples_follow_the_format(tmp_path: Path) -> None:
    adata = make_adata()
    prepare(adata, tmp_path / "out", dataset_id="fmt", name="Format test")
    reader = ExportReader(tmp_path / "out")
    identity = reader.manifests.identity
    assert identity.version == 3
    embeddings = identity.embeddings
    assert embeddings.defaults == {"2d": "X_umap", "3d": "X_umap_3d"}
    assert embeddings.default_dimension == 2
    files = {key: (item.file, item.label) for key, item in embeddings.items.items()}
    assert files == {
        "X_pca[0,1]": ("embeddings/0_2d.bin.gz", "PCA 1\u20132"),
        "X_umap": ("embeddings/1_2d.bin.gz", "UMAP"),
        "X_umap_3d[0,1]": ("embeddings/2_2d.bin.gz", "umap_3d 1\u20132"),
        "X_umap_3d": ("embeddings/3_3d.bin.gz", "umap_3d"),
    }
    obs = reader.manifests.obs
    assert obs is not None
    assert obs.latent_key == "X_pca"
    raw = json.loads((tmp_path / "out" / "obs_manifest.json").read_bytes())
    keys = [entry[1] for entry in raw["_continuousFields"] + raw["_categoricalFields"]]
    indices = [entry[0] for entry in raw["_continuousFields"] + raw["_categoricalFields"]]
    assert sorted(indices) == list(range(5))
    assert dict(zip(keys, indices, strict=True))["cell_type"] == 0
    cell_type = next(e for e in raw["_categoricalFields"] if e[1] == "cell_type")
    assert cell_type[3] == "uint8" and cell_type[4] == 255
    assert set(cell_type[5]) == set(embeddings.items)
    assert len(cell_type) == 8
    # The typed records hold the same items, and the one serialiser writes them back exactly.
    record = next(e for e in obs.categoricalFields if e.key == "cell_type")
    assert [record.index, record.codes_dtype, record.missing] == [0, "uint8", 255]
    assert record.centroids == cell_type[5] and record.outlier_bounds == tuple(cell_type[6:])
    for name, model in (("obs_manifest.json", ObsManifest), ("var_manifest.json", VarManifest)):
        written = (tmp_path / "out" / name).read_bytes()
        assert dump_json(model.model_validate_json(written)) == written, name


def test_spilled_rows_match_columns_read_in_memory(tmp_path: Path) -> None:
    """A CSR file read in two row chunks, spilled as three records and encoded in batches, gives
    the same gene files as the same matrix encoded from column blocks in memory."""
    n_cells, n_genes = 10_000, 1_000
    rng = np.random.default_rng(3)
    x = sparse.random(n_cells, n_genes, density=0.02, format="csr", rng=rng, dtype=np.float32)
    x.data = np.round(x.data * 8 - 2, 3)
    x.data[x.indices == 7] = 0
    adata = make_adata(n_cells=n_cells, n_genes=n_genes)
    adata.X = x
    path = tmp_path / "in.h5ad"
    adata.write_h5ad(path)
    prepare(path, tmp_path / "file", dataset_id="x", memory_budget_mb=128)
    prepare(adata, tmp_path / "memory", dataset_id="x")
    reader = ExportReader(tmp_path / "file")
    dense = x.toarray()
    for gene in (0, 7, 523, n_genes - 1):
        _assert_close(reader.gene(gene), dense[:, gene], 8)
    for gene in range(n_genes):
        name = f"var/{gene}.values.u8.gz"
        assert (tmp_path / "file" / name).read_bytes() == (tmp_path / "memory" / name).read_bytes()
