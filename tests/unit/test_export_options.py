"""A curator's export options (ExportOptions): applied over the host's settings, through
``prepare()`` and the ``prepare`` command line."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cellucid_cloud import ExportOptions, ExportSettings, PrepareError, prepare
from cellucid_cloud.export.reader import ExportReader
from cellucid_cloud.export.settings import read_options
from tests.export_data import make_adata


def test_unset_options_keep_the_hosts_settings() -> None:
    host = ExportSettings(compression=0, memory_budget_mb=64)
    options = ExportOptions(var_quantization=16, embeddings=[{"key": "X_pca", "columns": [2, 3]}])
    applied = host.with_options(options)
    assert applied.compression == 0 and applied.memory_budget_mb == 64
    assert applied.var_quantization == 16
    assert applied.embeddings[0].key == "X_pca" and applied.embeddings[0].columns == (2, 3)
    assert host.with_options(None) is host


def test_stored_form_round_trips_what_was_set() -> None:
    options = ExportOptions(default_embedding="X_tsne", obs_keys=("cell_type",))
    stored = options.model_dump_json(exclude_unset=True)
    assert json.loads(stored) == {"default_embedding": "X_tsne", "obs_keys": ["cell_type"]}
    again = read_options(stored)
    assert again == options and again.model_fields_set == options.model_fields_set


def test_flags_are_laid_over_a_file_of_options() -> None:
    from_file = read_options(b'{"compression": 9, "gene_names_column": "symbol"}')
    merged = read_options({"compression": 1}, over=from_file)
    assert (merged.compression, merged.gene_names_column) == (1, "symbol")


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b'{"var_quantization": 3}', "var_quantization"),
        (b'{"dataset_id": "x"}', "dataset_id"),
        (b'{"expression_matrix": "layers/"}', "expression_matrix"),
        (b'{"embeddings": [{"key": "X_umap", "columns": [0, 0]}]}', "embeddings.0.columns"),
        (b"[1, 2", "(top level)"),
    ],
)
def test_bad_options_are_one_line(data: bytes, where: str) -> None:
    with pytest.raises(PrepareError, match=r"^invalid export options: ") as caught:
        read_options(data)
    assert where in str(caught.value) and "\n" not in str(caught.value)


def test_prepare_applies_options_over_fields(tmp_path: Path) -> None:
    adata = make_adata(n_cells=120, n_genes=6)
    options = ExportOptions(
        embeddings=[{"key": "X_pca", "columns": [2, 3]}, {"key": "X_umap"}],
        default_embedding="X_pca",
        obs_keys=("sample",),
        var_quantization=0,
    )
    prepare(adata, tmp_path / "out", options=options, compression=0, dataset_id="opt")
    reader = ExportReader(tmp_path / "out")
    identity = reader.manifests.identity
    assert identity.embeddings.defaults == {"2d": "X_pca[2,3]"}
    assert set(identity.embeddings.items) == {"X_pca[2,3]", "X_umap"}
    assert [f.key for f in identity.obs_fields] == ["sample"]
    assert identity.export_settings.compression is None
    np.testing.assert_array_equal(reader.gene(1), adata.X.toarray()[:, 1])


def test_a_default_that_names_no_embedding_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PrepareError, match="default embedding 'X_tsne' is not one of"):
        prepare(make_adata(n_cells=30), tmp_path / "out", default_embedding="X_tsne")
    assert not (tmp_path / "out").exists()


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cellucid_cloud.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_reads_an_options_file_and_flags_win(tmp_path: Path) -> None:
    source = tmp_path / "in.h5ad"
    make_adata(n_cells=80, n_genes=5).write_h5ad(source)
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"default_embedding": "X_umap_3d", "compression": 0}))
    done = _cli(
        "prepare", source, tmp_path / "out", "--options", options,
        "--embedding", "X_umap_3d", "--embedding", "X_pca", "--var-quantization", "16",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    identity = ExportReader(tmp_path / "out").manifests.identity
    assert identity.embeddings.default_dimension == 3
    assert identity.embeddings.defaults == {"2d": "X_pca[0,1]", "3d": "X_umap_3d"}
    assert identity.export_settings.compression is None
    assert identity.export_settings.var_quantization == 16
    bad = tmp_path / "bad.json"
    bad.write_text('{"var_quantization": 12}')
    done = _cli("prepare", source, tmp_path / "x", "--options", bad)
    assert done.returncode == 1
    assert done.stderr.startswith("error: invalid export options: var_quantization")
    assert done.stderr.count("\n") == 1


def _without_x(adata_path: Path) -> None:
    import h5py

    with h5py.File(adata_path, "r+") as handle:
        del handle["X"]


def test_genes_come_from_raw_x_or_a_layer_when_x_is_absent(tmp_path: Path) -> None:
    adata = make_adata(n_cells=60, n_genes=8)
    wider = make_adata(n_cells=60, n_genes=11, seed=4)
    adata.raw = wider
    adata.layers["counts"] = adata.X * 3
    adata.layers["log1p"] = adata.X * 2
    path = tmp_path / "in.h5ad"
    adata.write_h5ad(path)
    _without_x(path)
    prepare(path, tmp_path / "raw", var_quantization=0)
    reader = ExportReader(tmp_path / "raw")
    assert reader.manifests.identity.expression_matrix == "raw.X"
    assert reader.gene_names == [f"GENE{i}" for i in range(11)]
    np.testing.assert_array_equal(reader.gene(10), wider.X.toarray()[:, 10])

    del adata.raw
    adata.write_h5ad(path)
    _without_x(path)
    prepare(path, tmp_path / "layer", var_quantization=0)
    reader = ExportReader(tmp_path / "layer")
    assert reader.manifests.identity.expression_matrix == "layers/log1p"
    np.testing.assert_array_equal(reader.gene(3), (adata.X * 2).toarray()[:, 3])

    prepare(path, tmp_path / "asked", var_quantization=0, expression_matrix="layers/counts")
    reader = ExportReader(tmp_path / "asked")
    assert reader.manifests.identity.expression_matrix == "layers/counts"
    np.testing.assert_array_equal(reader.gene(3), (adata.X * 3).toarray()[:, 3])
    with pytest.raises(PrepareError, match=r"'raw.X' is not in the AnnData \(it has layers/co"):
        prepare(path, tmp_path / "no", expression_matrix="raw.X")


def test_in_memory_x_absent_uses_raw(tmp_path: Path) -> None:
    adata = make_adata(n_cells=40, n_genes=5)
    adata.raw = adata.copy()
    adata.X = None
    prepare(adata, tmp_path / "out", var_quantization=0)
    reader = ExportReader(tmp_path / "out")
    assert reader.manifests.identity.expression_matrix == "raw.X"
    np.testing.assert_array_equal(reader.gene(2), adata.raw.X.toarray()[:, 2])
