"""`cellucid-cloud serve file.h5ad`: the logical export files computed from the AnnData."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from cellucid_cloud.export.reader import ExportReader
from cellucid_cloud.serve import Catalog, create_app
from cellucid_cloud.serve.direct import DirectExport
from tests.export_data import make_adata
from tests.integration.test_serve_folder import running


@pytest.fixture(scope="module")
def h5ad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("direct") / "cells.h5ad"
    make_adata(n_cells=500, n_genes=30).write_h5ad(path)
    return path


def test_direct_mode_serves_what_prepare_would(h5ad: Path, tmp_path: Path) -> None:
    adata = make_adata(n_cells=500, n_genes=30)
    source = DirectExport(h5ad, cache_bytes=4 * 500 * 5)
    try:
        with running(create_app(Catalog.single(source))) as base, httpx.Client() as client:
            datasets = client.get(f"{base}/datasets.json").json()
            assert datasets["datasets"][0]["n_cells"] == 500
            mirror = tmp_path / "mirror"
            for path in sorted(source.declared_paths()):
                response = client.get(f"{base}/{path}")
                assert response.status_code == 200, path
                assert "content-encoding" not in response.headers
                target = mirror / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(response.content)
            assert client.get(f"{base}/var/30.values.f32").status_code == 404
            assert client.get(f"{base}/var/0.values.u8.gz").status_code == 404
            ranged = client.get(f"{base}/var/3.values.f32", headers={"Range": "bytes=4-11"})
            assert ranged.status_code == 206
            column = adata.X[:, 3].toarray().ravel().astype("<f4")
            assert ranged.content == column[1:3].tobytes()
        reader = ExportReader(mirror)
        for g in range(30):
            np.testing.assert_array_equal(reader.gene(g), adata.X[:, g].toarray().ravel())
        codes = reader.categorical("cell_type")[1]
        np.testing.assert_array_equal(codes, adata.obs["cell_type"].cat.codes.to_numpy())
        assert reader.manifests.identity.export_settings.compression is None
    finally:
        source.close()


def test_serve_command_detects_an_h5ad(h5ad: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "cellucid_cloud.cli", "serve", str(h5ad), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                identity = httpx.get(f"http://127.0.0.1:{port}/dataset_identity.json").json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.2)
        assert identity["stats"]["n_cells"] == 500
        assert identity["id"] == "cells"
    finally:
        process.terminate()
        process.wait(10)
