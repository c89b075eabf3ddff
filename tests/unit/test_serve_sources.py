"""Declared-path derivation, the folder adapter and catalog resolution of the serve module."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from cellucid_cloud.export.layout import ExportManifests, read_manifests
from cellucid_cloud.export.manifests import (
    ConnectivityManifest,
    DatasetIdentity,
    ObsManifest,
    VarManifest,
)
from cellucid_cloud.serve import ExportFolderError, FileChangedError, FolderExport, ServedDatasets
from cellucid_cloud.serve.sources import ExportSource, is_safe_relative_path

# The real 0.9.4 example documents (research notes A.4); centroids and gene name sets trimmed.
IDENTITY: dict[str, Any] = {
    "version": 3,
    "id": "small-demo",
    "name": "Small demo",
    "description": "Tiny synthetic demo",
    "created_at": "2025-01-01T00:00:00Z",
    "cellucid_data_version": "0.9.4",
    "stats": {
        "n_cells": 300,
        "n_genes": 3,
        "n_obs_fields": 4,
        "n_categorical_fields": 3,
        "n_continuous_fields": 1,
        "has_connectivity": True,
        "n_edges": 894,
    },
    "embeddings": {
        "default_dimension": 3,
        "defaults": {"2d": "X_umap", "3d": "X_umap_3d"},
        "items": {
            "X_pca": {
                "label": "PCA 1/2",
                "dimension": 2,
                "file": "embeddings/0_2d.bin.gz",
                "source": {"key": "X_pca", "columns": [0, 1]},
            },
            "X_umap": {
                "label": "X_umap",
                "dimension": 2,
                "file": "embeddings/1_2d.bin.gz",
                "source": {"key": None, "columns": [0, 1]},
            },
            "X_umap_3d": {
                "label": "X_umap_3d",
                "dimension": 3,
                "file": "embeddings/2_3d.bin.gz",
                "source": {"key": None, "columns": [0, 1, 2]},
            },
        },
    },
    "obs_fields": [
        {"key": "total_counts", "kind": "continuous"},
        {"key": "cell_type", "kind": "category", "n_categories": 3},
        {"key": "batch", "kind": "category", "n_categories": 2},
        {"key": "clone", "kind": "category", "n_categories": 1},
    ],
    "export_settings": {
        "compression": 6,
        "var_quantization": 8,
        "obs_continuous_quantization": 8,
        "obs_categorical_dtype": "uint8",
    },
    "source": {"name": "synthetic", "url": "https://example.org"},
    "vector_fields": {
        "default_field": "velocity",
        "fields": {"velocity": {"label": "velocity", "files": {"X_umap": "vectors/0_1.bin.gz"}}},
    },
}
OBS: dict[str, Any] = {
    "_format": "compact_v2",
    "n_points": 300,
    "centroid_outlier_quantile": 0.95,
    "latent_key": "latent_space",
    "compression": 6,
    "_obsSchemas": {
        "continuous": {
            "pathPattern": "obs/{index}.values.u8.gz",
            "ext": "u8",
            "dtype": "uint8",
            "quantized": True,
            "quantizationBits": 8,
        },
        "categorical": {
            "codesPathPattern": "obs/{index}.codes.{ext}.gz",
            "outlierPathPattern": "obs/{index}.outliers.u8.gz",
            "outlierExt": "u8",
            "outlierDtype": "uint8",
            "outlierQuantized": True,
        },
    },
    "_continuousFields": [[3, "total_counts", 43.2, 1836.8]],
    "_categoricalFields": [
        [0, "cell_type", ["B", "NK", "T"], "uint8", 255, {}, 0.0, 1.0],
        [1, "batch", ["a", "b"], "uint16", 65535, {}],
        [2, "clone", ["x"], "uint32", 4294967295, {}],
    ],
}
VAR: dict[str, Any] = {
    "_format": "compact_v2",
    "n_points": 300,
    "compression": 6,
    "quantization": 8,
    "_varSchema": {
        "kind": "continuous",
        "pathPattern": "var/{index}.values.u8.gz",
        "ext": "u8",
        "dtype": "uint8",
        "quantized": True,
        "quantizationBits": 8,
    },
    "fields": [[0, "G0", 0.0, 2.4], [1, "G1", 0.0, 2.4], [2, "G2", 0.0, 1.0]],
    "gene_name_sets": [{"source": None, "filled_from_index": 0, "renamed": [], "names": None}],
}
CONNECTIVITY: dict[str, Any] = {
    "format": "edge_pairs",
    "n_cells": 300,
    "n_edges": 894,
    "max_neighbors": 13,
    "index_bytes": 2,
    "index_dtype": "uint16",
    "sourcesPath": "connectivity/edges.src.bin.gz",
    "destinationsPath": "connectivity/edges.dst.bin.gz",
    "weightsPath": "connectivity/edges.weights.f64.bin.gz",
    "weight_dtype": "float64",
    "weight_bytes": 8,
    "compression": 6,
}
MANIFESTS = {
    "dataset_identity.json",
    "obs_manifest.json",
    "var_manifest.json",
    "connectivity_manifest.json",
}
PAYLOADS = {
    "embeddings/0_2d.bin.gz",
    "embeddings/1_2d.bin.gz",
    "embeddings/2_3d.bin.gz",
    "vectors/0_1.bin.gz",
    "obs/3.values.u8.gz",
    "obs/0.codes.u8.gz",
    "obs/0.outliers.u8.gz",
    "obs/1.codes.u16.gz",
    "obs/1.outliers.u8.gz",
    "obs/2.codes.u32.gz",
    "obs/2.outliers.u8.gz",
    "var/0.values.u8.gz",
    "var/1.values.u8.gz",
    "var/2.values.u8.gz",
    "connectivity/edges.src.bin.gz",
    "connectivity/edges.dst.bin.gz",
    "connectivity/edges.weights.f64.bin.gz",
}


def _manifests(
    identity: dict[str, Any],
    obs: dict[str, Any] | None = None,
    var: dict[str, Any] | None = None,
    connectivity: dict[str, Any] | None = None,
) -> ExportManifests:
    return ExportManifests(
        DatasetIdentity.model_validate(identity),
        None if obs is None else ObsManifest.model_validate(obs),
        None if var is None else VarManifest.model_validate(var),
        None if connectivity is None else ConnectivityManifest.model_validate(connectivity),
    )


def test_declared_paths_exact() -> None:
    paths = _manifests(IDENTITY, OBS, VAR, CONNECTIVITY).declared_paths()
    assert paths == PAYLOADS | MANIFESTS


def test_declared_paths_without_optional_manifests() -> None:
    identity = {k: v for k, v in IDENTITY.items() if k != "vector_fields"}
    assert _manifests(identity).declared_paths() == {
        "dataset_identity.json",
        "embeddings/0_2d.bin.gz",
        "embeddings/1_2d.bin.gz",
        "embeddings/2_3d.bin.gz",
    }


def test_declared_paths_uncompressed_var() -> None:
    identity = {**IDENTITY, "embeddings": {**IDENTITY["embeddings"], "items": {}}}
    del identity["vector_fields"]
    schema = {**VAR["_varSchema"], "pathPattern": "var/{index}.values.{ext}", "ext": "f32"}
    var = {**VAR, "_varSchema": schema, "fields": [[7, "G"]]}
    assert _manifests(identity, var=var).declared_paths() == {
        "dataset_identity.json",
        "var_manifest.json",
        "var/7.values.f32",
    }


def test_unsafe_declared_paths_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    item = IDENTITY["embeddings"]["items"]["X_pca"]
    files = ["../../etc/passwd", "/etc/passwd", "embeddings\\x.bin", "embeddings/./x.bin"]
    items = {str(i): {**item, "file": f} for i, f in enumerate([*files, "embeddings/ok.bin"])}
    identity = {**IDENTITY, "embeddings": {**IDENTITY["embeddings"], "items": items}}
    del identity["vector_fields"]
    var = {**VAR, "_varSchema": {**VAR["_varSchema"], "pathPattern": "{index}/../x"}}
    with caplog.at_level(logging.WARNING):
        paths = _manifests(identity, var=var).declared_paths()
    assert paths == {"dataset_identity.json", "var_manifest.json", "embeddings/ok.bin"}
    assert all(repr(p) in caplog.text for p in [*files, "0/../x"])


def test_hostile_manifest_paths_are_not_served(tmp_path: Path) -> None:
    folder = _write_folder(tmp_path / "ds")
    (tmp_path / "secret").write_bytes(b"secret")
    var = {**VAR, "_varSchema": {**VAR["_varSchema"], "pathPattern": "../secret{index}"}}
    var["fields"] = [["", "G"]]
    (folder / "var_manifest.json").write_text(json.dumps(var))
    source = FolderExport(folder)
    assert not any(".." in p for p in source.declared_paths())
    with pytest.raises(FileNotFoundError):
        source.stat("../secret")


@pytest.mark.parametrize(
    ("path", "safe"),
    [
        ("var/0.values.u8.gz", True),
        ("dataset_identity.json", True),
        ("", False),
        ("/abs", False),
        ("a/../b", False),
        ("./a", False),
        ("a//b", False),
        ("a/", False),
        ("a\\b", False),
        ("a\x00", False),
    ],
)
def test_is_safe_relative_path(path: str, safe: bool) -> None:
    assert is_safe_relative_path(path) is safe


def _write_folder(folder: Path, dataset_id: str = "small-demo") -> Path:
    folder.mkdir(parents=True)
    docs = {
        "dataset_identity.json": {**IDENTITY, "id": dataset_id},
        "obs_manifest.json": OBS,
        "var_manifest.json": VAR,
        "connectivity_manifest.json": CONNECTIVITY,
    }
    for name, doc in docs.items():
        (folder / name).write_text(json.dumps(doc))
    for rel in PAYLOADS:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(rel.encode() * 10)
    return folder


def test_folder_export(tmp_path: Path) -> None:
    folder = _write_folder(tmp_path / "ds")
    (folder / "var/2.values.u8.gz").unlink()  # declared but missing: not served
    (folder / "extra.bin").write_bytes(b"x")  # on disk but undeclared: not served
    source = FolderExport(folder)
    assert isinstance(source, ExportSource)
    assert (source.dataset_id, source.name, source.n_cells, source.n_genes) == (
        "small-demo",
        "Small demo",
        300,
        3,
    )
    assert source.declared_paths() == (PAYLOADS - {"var/2.values.u8.gz"}) | MANIFESTS
    data = (folder / "var/0.values.u8.gz").read_bytes()
    info = source.stat("var/0.values.u8.gz")
    assert info.size == len(data)
    assert info.etag.startswith('"')
    assert info.etag.endswith('"')
    assert info.etag != source.stat("var/1.values.u8.gz").etag
    assert b"".join(source.read("var/0.values.u8.gz", 0, info.size)) == data
    assert b"".join(source.read("var/0.values.u8.gz", 3, 9)) == data[3:9]
    for missing in ["var/2.values.u8.gz", "extra.bin", "../ds/extra.bin"]:
        with pytest.raises(FileNotFoundError):
            source.stat(missing)
        with pytest.raises(FileNotFoundError):
            source.read(missing, 0, 1)


def test_folder_export_detects_changes(tmp_path: Path) -> None:
    folder = _write_folder(tmp_path / "ds")
    source = FolderExport(folder)
    target = folder / "var/0.values.u8.gz"
    target.write_bytes(b"different length")
    with pytest.raises(FileChangedError):
        source.stat("var/0.values.u8.gz")
    with pytest.raises(FileChangedError):
        source.read("var/0.values.u8.gz", 0, 1)
    # Swapped for a symlink after startup: O_NOFOLLOW refuses it.
    (folder / "elsewhere").write_bytes(b"elsewhere")
    link = folder / "var/1.values.u8.gz"
    link.unlink()
    link.symlink_to(folder / "elsewhere")
    with pytest.raises(FileChangedError):
        source.read("var/1.values.u8.gz", 0, 1)


def test_folder_export_skips_symlinks(tmp_path: Path) -> None:
    folder = _write_folder(tmp_path / "ds")
    (tmp_path / "secret").write_bytes(b"secret")
    gene = folder / "var/0.values.u8.gz"
    gene.unlink()
    gene.symlink_to(tmp_path / "secret")
    assert "var/0.values.u8.gz" not in FolderExport(folder).declared_paths()


def test_folder_export_errors(tmp_path: Path) -> None:
    with pytest.raises(ExportFolderError, match="not an export folder"):
        FolderExport(tmp_path)
    (tmp_path / "dataset_identity.json").write_text("{not json")
    with pytest.raises(ExportFolderError, match="malformed manifest: unreadable JSON"):
        FolderExport(tmp_path)
    (tmp_path / "dataset_identity.json").write_text("[]")
    with pytest.raises(ExportFolderError, match="JSON object"):
        FolderExport(tmp_path)


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        # Tolerated by the old dict-walking code, refused by the models: a clear error, no crash.
        ("dataset_identity.json", {"stats": {"n_cells": 3}}, r"stats\.n_genes: Field required"),
        ("dataset_identity.json", {"embeddings": {}}, r"embeddings\.default_dimension"),
        ("connectivity_manifest.json", {"weightsPath": None}, r"weightsPath: .*string"),
        ("obs_manifest.json", {"_obsSchemas": []}, r"_obsSchemas: .*dictionary"),
        ("var_manifest.json", {"fields": [[]]}, r"fields\.0 has 0 item\(s\), needs at least 1"),
        (
            "obs_manifest.json",
            {"_categoricalFields": [OBS["_categoricalFields"][0], [0, "x", []]]},
            r"_categoricalFields\.1 has 3 item\(s\), needs at least 4",
        ),
        (
            "obs_manifest.json",
            {"_categoricalFields": [[0, "x", [], "int8", 127, {}]]},
            r"unknown codes dtype 'int8'",
        ),
    ],
)
def test_folder_export_malformed_manifests(
    tmp_path: Path, name: str, change: dict[str, Any], message: str
) -> None:
    folder = _write_folder(tmp_path / "ds")
    doc = json.loads((folder / name).read_text())
    (folder / name).write_text(json.dumps({**doc, **change}))
    with pytest.raises(ExportFolderError, match=f"{name}: malformed manifest: {message}"):
        FolderExport(folder)
    with pytest.raises(ExportFolderError, match="malformed manifest"):
        read_manifests(folder)


def test_served_datasets_single_and_several(tmp_path: Path) -> None:
    single = ServedDatasets.from_path(_write_folder(tmp_path / "one"))
    [dataset] = single.datasets
    assert dataset.at_root and dataset.segment == dataset.source.dataset_id
    # Served under its id (the catalog's canonical path) and at the root.
    for segments in (["var", "0.values.u8.gz"], [dataset.segment, "var", "0.values.u8.gz"]):
        source, rel = single.resolve(segments) or (None, "")
        assert rel == "var/0.values.u8.gz"
        assert source is dataset.source
    assert single.resolve(["one", "var", "0.values.u8.gz"]) is None
    assert single.datasets_json().datasets[0].path == f"{dataset.segment}/"

    root = tmp_path / "root"
    _write_folder(root / "z", "aaa")
    _write_folder(root / "a", "zzz")
    _write_folder(root / "_cellucid", "hidden")
    _write_folder(root / ".git", "hidden2")
    several = ServedDatasets.from_path(root)
    assert not any(m.at_root for m in several.datasets)
    assert [m.segment for m in several.datasets] == ["z", "a"]  # sorted by dataset id
    assert several.datasets_json().default == "aaa"
    assert several.resolve(["a", "dataset_identity.json"]) is not None
    assert several.resolve(["dataset_identity.json"]) is None
    assert several.resolve(["a"]) is None
    assert several.resolve(["_cellucid", "dataset_identity.json"]) is None


def test_catalog_errors(tmp_path: Path) -> None:
    with pytest.raises(ExportFolderError, match=r"no dataset_identity\.json"):
        ServedDatasets.from_path(tmp_path)
    with pytest.raises(ExportFolderError, match="not a directory"):
        ServedDatasets.from_path(tmp_path / "missing.h5ad")
    _write_folder(tmp_path / "a", "same")
    _write_folder(tmp_path / "b", "same")
    with pytest.raises(ExportFolderError, match="duplicate dataset ids: same"):
        ServedDatasets.from_path(tmp_path)
