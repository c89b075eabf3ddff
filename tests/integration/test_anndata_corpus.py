"""Files from the outside world: every on-disk encoding anndata has written since 0.5 exports
and decodes back to what anndata itself reads, or is refused with one line saying what is
missing (issue 12, item 1).

The corpus is anndata's own archive of files written by older releases (fetched from PyPI once,
see tests/anndata_archives.py), files in the pre-0.7 layout written here with h5py, and files
the installed anndata writes in every container it supports (h5ad, zarr v2 and v3 folders,
.zarr.zip), with the obs column types and X encodings curators' files have.
"""

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import anndata as ad
import h5py
import httpx
import numpy as np
import pandas as pd
import pytest
import zarr
from scipy import sparse

from cellucid_cloud import prepare
from cellucid_cloud.export.reader import ExportReader
from cellucid_cloud.ingest.upload_checks import check_upload
from tests.anndata_archives import FILES, archives
from tests.export_check import assert_export_matches
from tests.export_data import make_adata
from tests.legacy_files import MatrixFormat, write_legacy_h5ad
from tests.local_up import running_up, wait_for_status

REFUSED = {
    "v0.11.4/adata.h5ad": "no usable embedding: obsm has no numeric array with two or more columns",
    "v0.11.4/adata.zarr.zip": "no usable embedding: obsm has no numeric array with two or more",
}
"""anndata 0.11.4's archive is AnnData(shape=(10, 20)): nothing to plot."""


def _skip_awkward(read: Any, name: str, elem: Any, iospec: Any) -> Any:
    """read_dispatched callback: leave out the awkward arrays (an optional anndata extra we do
    not install; the export never reads them either)."""
    del name
    if iospec.encoding_type == "dict":
        return {
            key: ad.experimental.read_dispatched(value, _skip_awkward)
            for key, value in dict(elem).items()
            if value.attrs.get("encoding-type") != "awkward-array"
        }
    return read(elem)


def anndata_reads(path: Path) -> ad.AnnData:
    """The file as anndata reads it (awkward arrays left out)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if path.suffix == ".h5ad":
                return ad.read_h5ad(path)
            store = zarr.storage.ZipStore(path, mode="r") if path.suffix == ".zip" else path
            return ad.read_zarr(store)
        except ImportError:
            if path.suffix == ".h5ad":
                with h5py.File(path, "r") as handle:
                    return ad.experimental.read_dispatched(handle, _skip_awkward)
            root = zarr.open_group(zarr.storage.ZipStore(path, mode="r"), mode="r")
            return ad.experimental.read_dispatched(root, _skip_awkward)


def exported(path: Path, out: Path, **settings: Any) -> ExportReader:
    """``path`` passes the upload checks when it is a file an upload can carry, exports, and
    decodes back to what anndata reads."""
    if path.name.endswith((".h5ad", ".zarr.zip")):
        check_upload(path, ".zarr.zip" if path.name.endswith(".zip") else ".h5ad")
    prepare(path, out, **settings)
    return assert_export_matches(anndata_reads(path), out)


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cellucid_cloud.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def corpus() -> Path:
    return archives()


def test_the_archive_holds_exactly_the_files_tested(corpus: Path) -> None:
    found = sorted(str(p.relative_to(corpus)) for p in corpus.glob("v*/adata.*"))
    assert found == sorted(FILES)


@pytest.mark.parametrize("name", FILES)
def test_anndata_archive_exports_or_is_refused(corpus: Path, name: str, tmp_path: Path) -> None:
    path = corpus / name
    out = tmp_path / "out"
    if name in REFUSED:
        done = cli("prepare", path, out)
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1 and REFUSED[name] in done.stderr, done.stderr
        assert not out.exists()
        return
    reader = exported(path, out, var_quantization=0)
    identity = reader.manifests.identity
    assert identity.stats.n_genes > 0 and identity.expression_matrix == "X"
    assert identity.stats.n_obs_fields >= 5


def test_the_pre_07_archive_keeps_categories_colours_and_graph(
    corpus: Path, tmp_path: Path
) -> None:
    """anndata 0.5-0.6's pbmc68k_reduced: compound obs, categories in uns, raw.X as a group,
    the graph in uns['neighbors']."""
    path = corpus / "v0.5.0" / "adata.h5ad"
    reader = exported(path, tmp_path / "out")
    identity = reader.manifests.identity
    assert identity.stats.has_connectivity
    assert identity.embeddings.defaults["2d"] == "X_umap"
    assert identity.embeddings.items["X_pca[0,1]"].label == "PCA 1\u20132"
    categories, _ = reader.categorical("louvain")
    assert categories == [str(i) for i in range(11)]
    obs = reader.manifests.obs
    assert obs is not None and obs.category_colors is not None
    read = anndata_reads(path)
    assert set(obs.category_colors) == {"louvain", "bulk_labels"}
    assert obs.category_colors["louvain"] == list(read.uns["louvain_colors"])


def _legacy_source(n_cells: int = 300, n_genes: int = 30) -> ad.AnnData:
    adata = make_adata(n_cells=n_cells, n_genes=n_genes)
    adata.obs["sample"] = adata.obs["sample"].astype("category")
    adata.uns["cell_type_colors"] = ["#aa0000", "#00bb00", "#0000cc", "#dddd00"]
    return adata


@pytest.mark.parametrize("x_format", ["dense", "csr", "csc"])
def test_legacy_layout_written_with_h5py(tmp_path: Path, x_format: MatrixFormat) -> None:
    adata = _legacy_source()
    path = tmp_path / "legacy.h5ad"
    write_legacy_h5ad(adata, path, x_format=x_format, uns={"title": np.array([b"Legacy lungs"])})
    reader = exported(path, tmp_path / "out", var_quantization=0)
    identity = reader.manifests.identity
    assert identity.name == "Legacy lungs"
    assert identity.stats.has_connectivity and identity.stats.n_genes == 30
    assert reader.categorical("cell_type")[0] == ["B cell", "T cell", "NK", "Mono"]


def test_legacy_layout_without_x_uses_raw(tmp_path: Path) -> None:
    adata = _legacy_source()
    adata.raw = make_adata(n_cells=300, n_genes=45, seed=9)
    path = tmp_path / "legacy.h5ad"
    write_legacy_h5ad(adata, path, x_format=None)
    reader = exported(path, tmp_path / "out", var_quantization=0)
    read = anndata_reads(path)
    assert read.X is None and read.raw is not None
    assert reader.manifests.identity.expression_matrix == "raw.X"
    assert reader.gene_names[:2] == ["GENE0", "GENE1"] and len(reader.gene_names) == 45


def test_legacy_layout_beyond_the_memory_limit_is_refused(tmp_path: Path) -> None:
    adata = _legacy_source(n_cells=40_000, n_genes=5)
    path = tmp_path / "big.h5ad"
    write_legacy_h5ad(adata, path)
    done = cli("prepare", path, tmp_path / "out", "--legacy-read-limit", "16")
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "written by anndata before 0.7" in done.stderr
    assert "MiB, more than the 16 MiB allowed" in done.stderr
    assert "re-save it with a current anndata" in done.stderr
    assert cli("prepare", path, tmp_path / "ok").returncode == 0


def _curators_obs(n: int, rng: np.random.Generator) -> pd.DataFrame:
    nullable_int = pd.array(rng.integers(0, 50, n), dtype="Int32")
    nullable_int[::7] = pd.NA
    nullable_bool = pd.array(rng.random(n) < 0.5, dtype="boolean")
    nullable_bool[::5] = pd.NA
    text = pd.array(rng.choice(["alpha", "beta", "gamma"], n), dtype="string")
    text[::11] = pd.NA
    return pd.DataFrame(
        {
            "cell_type": pd.Categorical(rng.choice(["T", "B", "NK"], n)),
            "ordered": pd.Categorical(rng.choice(["low", "high"], n), ["low", "high"], True),
            "donor": rng.choice(["d1", "d2"], n).astype(object),
            "text": text,
            "flag": rng.random(n) < 0.3,
            "nullable_int": nullable_int,
            "nullable_bool": nullable_bool,
            "score": np.where(rng.random(n) < 0.1, np.nan, rng.normal(0, 1, n)),
            "counts": rng.integers(0, 10_000, n).astype(np.int64),
            "small": rng.integers(0, 200, n).astype(np.uint8),
        }
    )


X_KINDS = {
    "int32 counts, CSR": lambda x: sparse.csr_matrix(np.round(x * 10).astype(np.int32)),
    "uint16 counts, CSC": lambda x: sparse.csc_matrix(np.round(x * 10).astype(np.uint16)),
    "float64, dense": lambda x: x.astype(np.float64),
    "int64, dense": lambda x: np.round(x * 3).astype(np.int64),
    "float32, CSR": lambda x: sparse.csr_matrix(x.astype(np.float32)),
    "bool, dense": lambda x: x > 1,
}


def _curators_adata(x_kind: str) -> ad.AnnData:
    rng = np.random.default_rng(1)
    n, g = 250, 12
    x = rng.gamma(1.0, 1.0, (n, g)) * (rng.random((n, g)) < 0.3)
    adata = ad.AnnData(X=X_KINDS[x_kind](x), obs=_curators_obs(n, rng))
    adata.obs_names = [f"c{i}" for i in range(n)]
    adata.var_names = [f"G{i}" for i in range(g)]
    adata.obsm["X_umap"] = rng.normal(0, 1, (n, 2))
    adata.obsm["X_pca"] = rng.normal(0, 1, (n, 20)).astype(np.float32)
    return adata


def _write(adata: ad.AnnData, folder: Path, container: str) -> Path:
    if container == "h5ad":
        adata.write_h5ad(path := folder / "in.h5ad")
        return path
    fmt = 3 if container.startswith("zarr v3") else 2
    with ad.settings.override(zarr_write_format=fmt):
        if container.endswith("zip"):
            store = zarr.storage.ZipStore(path := folder / "in.zarr.zip", mode="w")
            adata.write_zarr(store)
            store.close()
        else:
            adata.write_zarr(path := folder / "in.zarr")
    return path


ENCODINGS = [("h5ad", x_kind) for x_kind in X_KINDS] + [
    (container, x_kind)
    for container in ("zarr v2", "zarr v3", "zarr v2 zip", "zarr v3 zip")
    for x_kind in ("int32 counts, CSR", "float64, dense")
]
"""Every X kind in h5ad; a sparse and a dense one in each zarr container."""


@pytest.mark.parametrize(("container", "x_kind"), ENCODINGS)
def test_current_encodings(tmp_path: Path, container: str, x_kind: str) -> None:
    adata = _curators_adata(x_kind)
    path = _write(adata, tmp_path, container)
    reader = exported(path, tmp_path / "out", var_quantization=0)
    assert len(reader.manifests.identity.obs_fields) == 10


def test_non_string_indexes(tmp_path: Path) -> None:
    """Integer obs and var indexes, as tools other than anndata write them."""
    adata = _curators_adata("float32, CSR")
    path = tmp_path / "in.h5ad"
    adata.write_h5ad(path)
    with h5py.File(path, "r+") as handle:
        for frame, n in (("obs", adata.n_obs), ("var", adata.n_vars)):
            del handle[f"{frame}/_index"]
            handle[f"{frame}/_index"] = np.arange(n, dtype=np.int64) * 10
            handle[f"{frame}/_index"].attrs.update(
                {"encoding-type": "array", "encoding-version": "0.2.0"}
            )
    with h5py.File(path, "r") as handle:
        assert handle["var/_index"].dtype == np.int64
    reader = exported(path, tmp_path / "out", var_quantization=0)
    assert reader.gene_names[:3] == ["0", "10", "20"]


def test_serve_file_refuses_in_one_line(corpus: Path) -> None:
    done = cli("serve", corpus / "v0.11.4" / "adata.h5ad", "--port", "0")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and REFUSED["v0.11.4/adata.h5ad"] in done.stderr


UPLOADS = {
    "legacy": ("v0.5.0/adata.h5ad", "h5ad", "ready"),
    "zarr07": ("v0.7.8/adata.zarr.zip", "zarr.zip", "ready"),
    "awkward": ("v0.13.3/adata.h5ad", "h5ad", "ready"),
    "empty": ("v0.11.4/adata.h5ad", "h5ad", "failed"),
}


def test_the_upload_path_takes_what_prepare_exports(corpus: Path, tmp_path: Path) -> None:
    """Through ``up``'s upload URLs: the archive's files are processed like prepare does them,
    the one with nothing to plot fails with prepare's reason."""
    contact = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.org"}
    with running_up(tmp_path / "data") as up, up.curator() as curator:
        created = curator.post("/curation/v1/collections", json={"name": "Corpus", **contact})
        cid = created.json()["collection_id"]
        datasets = {}
        for label, (name, fmt, _) in UPLOADS.items():
            did = curator.post(f"/curation/v1/collections/{cid}/datasets").json()["dataset_id"]
            grant = curator.post(
                f"/curation/v1/collections/{cid}/datasets/{did}/upload-url", json={"format": fmt}
            ).json()
            data = (corpus / name).read_bytes()
            put = httpx.put(grant["url"], content=data, headers=grant.get("headers"), timeout=60)
            put.raise_for_status()
            datasets[label] = did
        for label, did in datasets.items():
            body = wait_for_status(
                curator, f"/curation/v1/collections/{cid}/datasets/{did}", {"ready", "failed"}
            )
            assert body["status"] == UPLOADS[label][2], (label, body)
            if body["status"] == "failed":
                assert REFUSED["v0.11.4/adata.h5ad"] in body["reason"], body["reason"]
                continue
            identity = httpx.get(str(body["export_url"]) + "dataset_identity.json").json()
            read = anndata_reads(corpus / UPLOADS[label][0])
            assert identity["stats"]["n_cells"] == read.n_obs
