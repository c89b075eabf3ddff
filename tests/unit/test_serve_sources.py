"""Declared-path derivation, the folder adapter and catalog resolution of the serve module."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cellucid_cloud.serve import Catalog, ExportFolderError, FileChangedError, FolderExport
from cellucid_cloud.serve.sources import ExportSource, declared_payload_paths, is_safe_relative_path

# The real 0.9.4 example documents (research notes A.4), trimmed to what declares paths.
IDENTITY: dict[str, Any] = {
    "version": 3,
    "id": "small-demo",
    "name": "Small demo",
    "stats": {"n_cells": 300, "n_genes": 3},
    "embeddings": {
        "items": {
            "X_pca": {"dimension": 2, "file": "embeddings/0_2d.bin.gz"},
            "X_umap": {"dimension": 2, "file": "embeddings/1_2d.bin.gz"},
            "X_umap_3d": {"dimension": 3, "file": "embeddings/2_3d.bin.gz"},
        }
    },
    "vector_fields": {
        "default_field": "velocity",
        "fields": {"velocity": {"label": "velocity", "files": {"X_umap": "vectors/0_1.bin.gz"}}},
    },
}
OBS: dict[str, Any] = {
    "_format": "compact_v2",
    "_obsSchemas": {
        "continuous": {"pathPattern": "obs/{index}.values.u8.gz", "ext": "u8"},
        "categorical": {
            "codesPathPattern": "obs/{index}.codes.{ext}.gz",
            "outlierPathPattern": "obs/{index}.outliers.u8.gz",
            "outlierExt": "u8",
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
    "_varSchema": {"kind": "continuous", "pathPattern": "var/{index}.values.u8.gz", "ext": "u8"},
    "fields": [[0, "G0", 0.0, 2.4], [1, "G1", 0.0, 2.4], [2, "G2", 0.0, 1.0]],
}
CONNECTIVITY: dict[str, Any] = {
    "format": "edge_pairs",
    "sourcesPath": "connectivity/edges.src.bin.gz",
    "destinationsPath": "connectivity/edges.dst.bin.gz",
    "weightsPath": "connectivity/edges.weights.f64.bin.gz",
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


def test_declared_payload_paths_exact() -> None:
    assert declared_payload_paths(IDENTITY, OBS, VAR, CONNECTIVITY) == PAYLOADS


def test_declared_payload_paths_without_optional_manifests() -> None:
    identity = {k: v for k, v in IDENTITY.items() if k != "vector_fields"}
    assert declared_payload_paths(identity, None, None, None) == {
        "embeddings/0_2d.bin.gz",
        "embeddings/1_2d.bin.gz",
        "embeddings/2_3d.bin.gz",
    }


def test_declared_payload_paths_uncompressed_and_no_weights() -> None:
    var = {
        "_varSchema": {"pathPattern": "var/{index}.values.f32", "ext": "f32"},
        "fields": [[7, "G"]],
    }
    conn = {**CONNECTIVITY, "weightsPath": None}
    paths = declared_payload_paths({}, None, var, conn)
    assert paths == {
        "var/7.values.f32",
        "connectivity/edges.src.bin.gz",
        "connectivity/edges.dst.bin.gz",
    }


def test_unsafe_declared_paths_are_dropped() -> None:
    identity = {
        "embeddings": {
            "items": {
                "a": {"file": "../../etc/passwd"},
                "b": {"file": "/etc/passwd"},
                "c": {"file": "embeddings\\x.bin"},
                "d": {"file": "embeddings/./x.bin"},
                "e": {"file": "embeddings/ok.bin"},
            }
        }
    }
    var = {"_varSchema": {"pathPattern": "{index}/../x", "ext": ""}, "fields": [[0, "G"]]}
    assert declared_payload_paths(identity, None, var, None) == {"embeddings/ok.bin"}


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
    assert source.declared_paths() == (PAYLOADS - {"var/2.values.u8.gz"}) | {
        "dataset_identity.json",
        "obs_manifest.json",
        "var_manifest.json",
        "connectivity_manifest.json",
    }
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
    with pytest.raises(ExportFolderError, match="unreadable JSON"):
        FolderExport(tmp_path)
    (tmp_path / "dataset_identity.json").write_text("[]")
    with pytest.raises(ExportFolderError, match="JSON object"):
        FolderExport(tmp_path)


def test_catalog_single_and_several(tmp_path: Path) -> None:
    single = Catalog.from_path(_write_folder(tmp_path / "one"))
    assert single.is_single
    source, rel = single.resolve(["var", "0.values.u8.gz"]) or (None, "")
    assert rel == "var/0.values.u8.gz"
    assert source is single.mounts[0].source
    assert single.resolve(["one", "var", "0.values.u8.gz"]) is None
    assert single.datasets_json()["datasets"][0]["path"] == "./"

    root = tmp_path / "root"
    _write_folder(root / "z", "aaa")
    _write_folder(root / "a", "zzz")
    _write_folder(root / "_cellucid", "hidden")
    _write_folder(root / ".git", "hidden2")
    several = Catalog.from_path(root)
    assert not several.is_single
    assert [m.segment for m in several.mounts] == ["z", "a"]  # sorted by dataset id
    assert several.datasets_json()["default"] == "aaa"
    assert several.resolve(["a", "dataset_identity.json"]) is not None
    assert several.resolve(["dataset_identity.json"]) is None
    assert several.resolve(["a"]) is None
    assert several.resolve(["_cellucid", "dataset_identity.json"]) is None


def test_catalog_errors(tmp_path: Path) -> None:
    with pytest.raises(ExportFolderError, match=r"no dataset_identity\.json"):
        Catalog.from_path(tmp_path)
    with pytest.raises(ExportFolderError, match="not a directory"):
        Catalog.from_path(tmp_path / "missing.h5ad")
    _write_folder(tmp_path / "a", "same")
    _write_folder(tmp_path / "b", "same")
    with pytest.raises(ExportFolderError, match="duplicate dataset ids: same"):
        Catalog.from_path(tmp_path)
