"""`cellucid-cloud serve file.h5ad`: the export files computed from the AnnData, over real HTTP.

Genes come from X directly (CSC, dense), from a bounded scan of a CSR X, or from the gene-major
copy built by a child process; every path must give exactly the AnnData's columns, gzip-encoded
or not.
"""

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import anndata as ad
import httpx
import numpy as np
import pytest
from scipy import sparse

from cellucid_cloud.export import prepare
from cellucid_cloud.export.gzip_codec import gzip_column
from cellucid_cloud.export.manifests import (
    CONNECTIVITY_MANIFEST_FILE,
    IDENTITY_FILE,
    OBS_MANIFEST_FILE,
    VAR_MANIFEST_FILE,
)
from cellucid_cloud.export.matrix_files import locate_in_file
from cellucid_cloud.export.reader import ExportReader
from cellucid_cloud.serve import ServedDatasets, create_app
from cellucid_cloud.serve.cache_folder import FileKey
from cellucid_cloud.serve.direct import SETTINGS as DIRECT_SETTINGS
from cellucid_cloud.serve.direct import DirectExport
from cellucid_cloud.serve.gene_copy import build
from tests.export_data import make_adata
from tests.integration.test_serve_folder import running
from tests.legacy_files import write_legacy_h5ad

BROWSER = {"Accept-Encoding": "gzip, deflate, br, zstd"}
PLAIN = {"Accept-Encoding": "identity"}


def _column(adata: ad.AnnData, gene: int) -> np.ndarray:
    x = adata.X
    column = x[:, gene].toarray() if sparse.issparse(x) else np.asarray(x)[:, [gene]]
    return np.asarray(column, dtype="<f4").ravel()


def _write(folder: Path, layout: str, **kwargs: Any) -> tuple[Path, ad.AnnData]:
    adata = make_adata(n_cells=500, n_genes=30, layout=layout, **kwargs)
    path = folder / f"cells-{layout}.h5ad"
    adata.write_h5ad(path)
    return path, adata


@pytest.fixture(scope="module")
def h5ad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp("direct"), "csr")[0]


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def _genes(client: httpx.Client, base: str, adata: ad.AnnData) -> None:
    """Every gene, plain and gzip-encoded, equals the AnnData's column."""
    for gene in range(adata.n_vars):
        expected = _column(adata, gene).tobytes()
        url = f"{base}/var/{gene}.values.f32"
        plain = client.get(url, headers=PLAIN)
        assert plain.status_code == 200
        assert "content-encoding" not in plain.headers
        assert plain.content == expected, f"gene {gene}"
        encoded = client.get(url, headers=BROWSER)
        assert encoded.headers["content-encoding"] == "gzip"
        assert encoded.headers["vary"] == "Accept-Encoding"
        assert encoded.headers["etag"] != plain.headers["etag"]
        assert int(encoded.headers["content-length"]) == encoded.num_bytes_downloaded
        assert encoded.content == expected  # httpx inflated it
        member = client.get(url + ".gz", headers=BROWSER)
        assert "content-encoding" not in member.headers
        assert member.headers["content-type"] == "application/octet-stream"
        assert gzip.decompress(member.content) == expected


@pytest.mark.parametrize("layout", ["csr", "csc", "dense"])
def test_genes_from_every_layout_are_the_columns_of_x(
    layout: str, tmp_path: Path, cache: Path
) -> None:
    path, adata = _write(tmp_path, layout)
    source = DirectExport(path, cache_dir=cache, scan_entries=1000, copy_above=0)
    try:
        with running(create_app(ServedDatasets.single(source))) as base, httpx.Client() as client:
            assert (source.gene_copy is None) == (layout == "csc")
            _genes(client, base, adata)  # before any copy: the column, or a scan of X
            if source.gene_copy is None:
                return
            source.start()
            assert source.gene_copy.wait(180), "the gene-major copy was not built"
    finally:
        source.close()
    restarted = DirectExport(path, cache_dir=cache, copy_above=0)  # finds the copy at once
    try:
        assert restarted.gene_copy is not None and restarted.gene_copy.ready
        with (
            running(create_app(ServedDatasets.single(restarted))) as base,
            httpx.Client() as client,
        ):
            _genes(client, base, adata)
    finally:
        restarted.close()


def test_a_file_from_anndata_before_0_7_gets_its_copy_through_the_reader(
    tmp_path: Path, cache: Path
) -> None:
    """The copy builder finds X by its place in the file; an anndata 0.6 file has no such
    place it knows, and is read by the export's reader instead, with the same genes."""
    adata = make_adata(n_cells=500, n_genes=30)
    path = tmp_path / "legacy.h5ad"
    write_legacy_h5ad(adata, path)
    assert locate_in_file(path, None) is None
    source = DirectExport(path, cache_dir=cache, copy_above=0)
    try:
        assert source.gene_copy is not None
        source.start()
        assert source.gene_copy.wait(180), "the gene-major copy was not built"
        with running(create_app(ServedDatasets.single(source))) as base, httpx.Client() as client:
            _genes(client, base, adata)
    finally:
        source.close()


def test_direct_mode_serves_what_prepare_would(h5ad: Path, tmp_path: Path, cache: Path) -> None:
    adata = make_adata(n_cells=500, n_genes=30)
    source = DirectExport(h5ad, cache_dir=cache)
    try:
        with running(create_app(ServedDatasets.single(source))) as base, httpx.Client() as client:
            assert client.get(f"{base}/datasets.json").json()["datasets"][0]["n_cells"] == 500
            mirror = tmp_path / "mirror"
            for path in sorted(source.declared_paths()):
                response = client.get(f"{base}/{path}", headers=BROWSER)
                assert response.status_code == 200, path
                if not path.endswith(".gz"):
                    plain = client.get(f"{base}/{path}", headers=PLAIN)
                    assert response.headers["content-encoding"] == "gzip"
                    assert response.content == plain.content, path
                    target = mirror / path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(plain.content)
                else:
                    assert "content-encoding" not in response.headers
                    plain = client.get(f"{base}/{path.removesuffix('.gz')}", headers=PLAIN)
                    assert gzip.decompress(response.content) == plain.content, path
            assert client.get(f"{base}/var/30.values.f32").status_code == 404
            assert client.get(f"{base}/var/0.values.u8.gz").status_code == 404
            assert client.get(f"{base}/dataset_identity.json.gz").status_code == 404
            # Ranges apply to the bytes as they are, whatever the client accepts.
            ranged = client.get(
                f"{base}/var/3.values.f32", headers={**BROWSER, "Range": "bytes=4-11"}
            )
            assert ranged.status_code == 206
            assert "content-encoding" not in ranged.headers
            assert ranged.content == _column(adata, 3)[1:3].tobytes()
            encoded = client.get(f"{base}/var/3.values.f32", headers=BROWSER)
            again = client.get(
                f"{base}/var/3.values.f32",
                headers={**BROWSER, "If-None-Match": encoded.headers["etag"]},
            )
            assert again.status_code == 304
            head = client.head(f"{base}/var/3.values.f32", headers=BROWSER)
            assert head.headers["content-length"] == encoded.headers["content-length"]
        reader = ExportReader(mirror)
        for g in range(30):
            np.testing.assert_array_equal(reader.gene(g), _column(adata, g))
        codes = reader.categorical("cell_type")[1]
        np.testing.assert_array_equal(codes, adata.obs["cell_type"].cat.codes.to_numpy())
        assert reader.manifests.identity.export_settings.compression is None
        assert reader.manifests.obs is not None
        assert reader.manifests.obs.obsSchemas.categorical is not None
        assert reader.manifests.obs.obsSchemas.categorical.outlierExt == "f32"
    finally:
        source.close()


MANIFESTS = (IDENTITY_FILE, OBS_MANIFEST_FILE, VAR_MANIFEST_FILE, CONNECTIVITY_MANIFEST_FILE)


def _manifests(base: str) -> dict[str, bytes]:
    answers = {name: httpx.get(f"{base}/{name}", headers=PLAIN) for name in MANIFESTS}
    assert all(answer.status_code == 200 for answer in answers.values())
    return {name: answer.content for name, answer in answers.items()}


def test_the_identity_is_served_before_the_centroids(
    h5ad: Path, tmp_path: Path, cache: Path
) -> None:
    """The identity waits for no centroid; the obs manifest built later is prepare's."""
    source = DirectExport(h5ad, cache_dir=cache)
    try:
        with running(create_app(ServedDatasets.single(source))) as base:
            assert httpx.get(f"{base}/dataset_identity.json").status_code == 200
            assert not source.centroids_started, "the centroids were computed before the identity"
            served = _manifests(base)
    finally:
        source.close()
    export = tmp_path / "export"
    prepare(h5ad, export, **DIRECT_SETTINGS)
    for name in MANIFESTS:
        assert served[name] == (export / name).read_bytes(), name


def _cache_entry(cache: Path) -> Path:
    entries = list(cache.glob("*.manifests.json"))
    assert len(entries) == 1, entries
    return entries[0]


def test_a_restart_answers_from_the_cached_manifests(h5ad: Path, cache: Path) -> None:
    first = DirectExport(h5ad, cache_dir=cache)
    try:
        with running(create_app(ServedDatasets.single(first))) as base:
            built = _manifests(base)  # the obs manifest's centroids: then the entry is written
            files = {
                p: httpx.get(f"{base}/{p}", headers=PLAIN).content for p in first.declared_paths()
            }
    finally:
        first.close()
    _cache_entry(cache)
    # Another process answers the identity without importing anndata, numpy or pandas.
    probe = (
        "import sys; from pathlib import Path;"
        "from cellucid_cloud.serve.direct import DirectExport;"
        f"s = DirectExport(Path({str(h5ad)!r}), cache_dir=Path({str(cache)!r}));"
        "print(b''.join(s.read('dataset_identity.json', 0, 1 << 20)).decode());"
        "print(sorted(m for m in ('anndata', 'numpy', 'pandas', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out == built[IDENTITY_FILE].decode() + "\n[]\n"
    restarted = DirectExport(h5ad, cache_dir=cache)
    try:
        assert restarted.declared_paths() == first.declared_paths()
        with running(create_app(ServedDatasets.single(restarted))) as base:
            restarted.start()  # the identity below starts building the payloads
            assert _manifests(base) == built
            for path, data in files.items():
                assert httpx.get(f"{base}/{path}", headers=PLAIN).content == data, path
    finally:
        restarted.close()


def _misnamed(entry: Path, **fields: Any) -> None:
    """Rewrite the cached entry with another dataset name (and ``fields`` changed)."""
    content = json.loads(entry.read_text())
    identity = json.loads(content["documents"][IDENTITY_FILE])
    identity["name"] = "not what the file says"
    content["documents"][IDENTITY_FILE] = json.dumps(identity, indent=2)
    entry.write_text(json.dumps(content | fields))


def test_cached_manifests_are_checked_and_invalidated(tmp_path: Path, cache: Path) -> None:
    path, _ = _write(tmp_path, "csr", seed=1)
    first = DirectExport(path, cache_dir=cache)
    first.gzipped(OBS_MANIFEST_FILE)  # computes the centroids and writes the entry
    first.close()
    old = _cache_entry(cache)
    written = old.read_bytes()
    _misnamed(old, code="another version of cellucid-cloud")  # built by other code: ignored
    again = DirectExport(path, cache_dir=cache)
    assert again.name == "cells-csr"
    again.close()

    old.write_bytes(written)
    _misnamed(old)  # the file does not give what the entry says: 409, and the entry is dropped
    misled = DirectExport(path, cache_dir=cache)
    try:
        assert misled.name == "not what the file says"
        with running(create_app(ServedDatasets.single(misled))) as base:
            assert httpx.get(f"{base}/embeddings/0_2d.bin").status_code == 409
        assert not old.exists()
    finally:
        misled.close()

    rebuilt = DirectExport(path, cache_dir=cache)
    rebuilt.gzipped(OBS_MANIFEST_FILE)
    rebuilt.close()
    make_adata(n_cells=300, n_genes=30, seed=2).write_h5ad(path)
    changed = DirectExport(path, cache_dir=cache)  # another version: its own entry
    try:
        assert changed.n_cells == 300
        changed.gzipped(OBS_MANIFEST_FILE)
        assert _cache_entry(cache) != old and not old.exists()
    finally:
        changed.close()


def test_a_small_x_gets_no_copy_and_compact_genes(tmp_path: Path, cache: Path) -> None:
    """Scaled values repeat: the member keeps LZ77's matches, not just runs of one byte."""
    path, adata = _write(tmp_path, "dense", scaled=True)
    adata.X = np.round(adata.X, 1) + np.float32(0)  # no -0.0: X stores it as 0
    adata.write_h5ad(path)
    source = DirectExport(path, cache_dir=cache)
    try:
        assert source.gene_copy is None
        with running(create_app(ServedDatasets.single(source))) as base, httpx.Client() as client:
            _genes(client, base, adata)
            member = client.get(f"{base}/var/0.values.f32.gz").content
        assert len(member) < 0.8 * len(gzip_column(_column(adata, 0).tobytes(), 6))
        assert not cache.exists() or not any(cache.iterdir())
    finally:
        source.close()


def test_outliers_are_computed_only_when_asked_for(h5ad: Path, cache: Path) -> None:
    source = DirectExport(h5ad, cache_dir=cache)
    try:
        outliers = sorted(p for p in source.declared_paths() if p.endswith(".outliers.f32"))
        assert outliers
        assert not any(p in source._files for p in outliers)
        with running(create_app(ServedDatasets.single(source))) as base:
            values = np.frombuffer(httpx.get(f"{base}/{outliers[0]}").content, "<f4")
        assert values.size == 500
        assert np.nanmax(values) <= 1.0
    finally:
        source.close()


def test_a_changed_file_invalidates_the_gene_major_copy(tmp_path: Path, cache: Path) -> None:
    path, first = _write(tmp_path, "csr", seed=1)
    source = DirectExport(path, cache_dir=cache, copy_above=0)
    source.start()
    assert source.gene_copy is not None and source.gene_copy.wait(180)
    old_copy = source.gene_copy.folder
    source.close()
    again = DirectExport(path, cache_dir=cache, copy_above=0)  # unchanged: reused at once
    assert again.gene_copy is not None and again.gene_copy.ready
    again.close()

    second = make_adata(n_cells=500, n_genes=30, seed=2)
    second.write_h5ad(path)
    changed = DirectExport(path, cache_dir=cache, copy_above=0)
    try:
        assert changed.gene_copy is not None and not changed.gene_copy.ready
        with running(create_app(ServedDatasets.single(changed))) as base, httpx.Client() as client:
            changed.start()
            assert not old_copy.exists(), "the old version's copy was kept"
            assert changed.gene_copy.wait(180)
            assert changed.gene_copy.folder != old_copy
            _genes(client, base, second)
            assert not np.array_equal(_column(first, 0), _column(second, 0))
            # A change while serving: nothing computed from the old file is served any more.
            os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
            assert client.get(f"{base}/var/0.values.f32").status_code == 409
    finally:
        changed.close()


def test_a_damaged_copy_is_never_served(tmp_path: Path, cache: Path) -> None:
    path, adata = _write(tmp_path, "csr")
    source = DirectExport(path, cache_dir=cache, copy_above=0)
    source.start()
    assert source.gene_copy is not None and source.gene_copy.wait(180)
    folder = source.gene_copy.folder
    source.close()
    gene = folder / "var" / "4.values.f32.gz"
    gene.write_bytes(gene.read_bytes()[:100])  # truncated: its size no longer matches copy.json
    damaged = DirectExport(path, cache_dir=cache, copy_above=0)
    try:
        with running(create_app(ServedDatasets.single(damaged))) as base:
            answer = httpx.get(f"{base}/var/4.values.f32", headers=BROWSER)
            assert answer.content == _column(adata, 4).tobytes()
    finally:
        damaged.close()
    (folder / "copy.json").write_text("[1, 2]")
    unreadable = DirectExport(path, cache_dir=cache, copy_above=0)
    assert unreadable.gene_copy is not None and not unreadable.gene_copy.ready
    unreadable.close()


def test_a_gene_with_nan_is_refused_with_422(tmp_path: Path, cache: Path) -> None:
    adata = make_adata(n_cells=200, n_genes=5)
    x = adata.X.tocsr()
    x.data[x.indices == 2] = np.nan
    adata.X = x
    path = tmp_path / "nan.h5ad"
    adata.write_h5ad(path)
    source = DirectExport(path, cache_dir=cache)
    try:
        with running(create_app(ServedDatasets.single(source))) as base:
            answer = httpx.get(f"{base}/var/2.values.f32", headers=BROWSER)
            assert answer.status_code == 422
            assert "NaN" in answer.json()["error"]
            assert httpx.get(f"{base}/var/1.values.f32").status_code == 200
    finally:
        source.close()


def _big_csr(folder: Path) -> tuple[Path, int]:
    """A CSR file whose X (values and indices) is about 48 MB: 6 M stored entries."""
    rng = np.random.default_rng(0)
    n_cells, n_genes, per_row = 30_000, 2_000, 200
    indices = np.sort(rng.integers(0, n_genes, (n_cells, per_row)), axis=1)
    keep = np.ones_like(indices, dtype=bool)
    keep[:, 1:] = indices[:, 1:] != indices[:, :-1]
    counts = keep.sum(axis=1)
    x = sparse.csr_matrix(
        (
            rng.random(int(counts.sum())).astype(np.float32) + 0.5,
            indices[keep].astype(np.int32),
            np.concatenate(([0], np.cumsum(counts))),
        ),
        shape=(n_cells, n_genes),
    )
    small = make_adata(n_cells=n_cells, n_genes=1)
    adata = ad.AnnData(X=x, obs=small.obs, obsm=dict(small.obsm))
    path = folder / "big.h5ad"
    adata.write_h5ad(path)
    return path, x.data.nbytes + x.indices.nbytes


def test_memory_stays_bounded_while_the_copy_is_being_built(tmp_path: Path, cache: Path) -> None:
    """Neither the scan that answers genes meanwhile nor the build ever holds X whole."""
    path, x_bytes = _big_csr(tmp_path)
    source = DirectExport(path, cache_dir=cache, scan_entries=1 << 18)
    try:
        with running(create_app(ServedDatasets.single(source))) as base, httpx.Client() as client:
            tracemalloc.start()
            try:
                for gene in (0, 999, 1999):
                    assert client.get(f"{base}/var/{gene}.values.f32").status_code == 200
                scan_peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.reset_peak()
                partial, final = cache / "partial", cache / "final"
                partial.mkdir(parents=True)
                build(path, partial, final, FileKey.of(path), 16, os.getppid())
                build_peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        assert (final / "var" / "1999.values.f32.gz").is_file()
        assert scan_peak < x_bytes / 8, (scan_peak, x_bytes)
        assert build_peak < x_bytes / 2, (build_peak, x_bytes)
    finally:
        source.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_command_serves_an_h5ad_and_builds_its_copy(tmp_path: Path) -> None:
    adata = make_adata(n_cells=20_000, n_genes=900)  # above COPY_ABOVE cells of X
    h5ad = tmp_path / "cells-csr.h5ad"
    adata.write_h5ad(h5ad)
    port = _free_port()
    cache = tmp_path / "cli-cache"
    process = subprocess.Popen(
        [sys.executable, "-m", "cellucid_cloud.cli", "serve", str(h5ad), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CELLUCID_CACHE_DIR": str(cache)},
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                identity = httpx.get(f"http://127.0.0.1:{port}/dataset_identity.json").json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.2)
        assert identity["stats"]["n_cells"] == 20_000
        assert identity["id"] == "cells-csr"
        while not list(cache.glob("*/copy.json")):
            assert time.monotonic() < deadline, "the gene-major copy was not built"
            time.sleep(0.2)
        gene = httpx.get(f"http://127.0.0.1:{port}/var/7.values.f32", headers=BROWSER)
        assert gene.headers["content-encoding"] == "gzip"
        assert gene.content == _column(adata, 7).tobytes()
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: uvicorn stops, then the source closes
        process.wait(20)
    assert not list(cache.glob("*.partial-*"))


def test_stopping_the_server_stops_the_build_and_removes_it(h5ad: Path, cache: Path) -> None:
    source = DirectExport(h5ad, cache_dir=cache, copy_above=0)
    source.start()
    assert list(cache.glob("*.partial-*"))
    source.close()
    assert not list(cache.glob("*.partial-*"))
    assert not list(cache.glob("*/copy.json"))
