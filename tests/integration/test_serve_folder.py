"""`cellucid-cloud serve` over real HTTP: uvicorn on 127.0.0.1 (ephemeral port), httpx client.

Export folders are written by hand here (DESIGN §3 layout, gzip payloads) so the server is tested
on exactly known bytes; one test also serves a folder made by ``cellucid_cloud.prepare``.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from cellucid_cloud.serve import create_app
from tests.raw_http import raw_get

N_CELLS = 40
BIG_GENE_BYTES = 3 * 1024 * 1024  # several streaming chunks


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def write_export(folder: Path, dataset_id: str, name: str, *, big: bool = False) -> Path:
    """A small but complete export folder: 2 embeddings, 2 obs fields, 3 genes, edges, vectors."""
    folder.mkdir(parents=True)
    files: dict[str, bytes] = {
        "embeddings/0_2d.bin.gz": _gz(bytes(i % 256 for i in range(N_CELLS * 8))),
        "embeddings/1_3d.bin.gz": _gz(b"\x01" * N_CELLS * 12),
        "obs/0.values.u16.gz": _gz(b"\x02\x00" * N_CELLS),
        "obs/1.codes.u8.gz": _gz(bytes(i % 3 for i in range(N_CELLS))),
        "obs/1.outliers.u16.gz": _gz(b"\x03\x00" * N_CELLS),
        "var/0.values.u8.gz": _gz(bytes(range(N_CELLS))),
        "var/1.values.u8.gz": _gz(b"\x05" * N_CELLS),
        "var/2.values.u8.gz": os.urandom(BIG_GENE_BYTES) if big else _gz(b"\x06" * N_CELLS),
        "connectivity/edges.src.bin.gz": _gz(b"\x00\x00\x01\x00"),
        "connectivity/edges.dst.bin.gz": _gz(b"\x01\x00\x02\x00"),
        "connectivity/edges.weights.f64.bin.gz": _gz(b"\x00" * 16),
        "vectors/0_1.bin.gz": _gz(b"\x07" * N_CELLS * 12),
        # On disk but declared by no manifest: must never be served.
        "var/3.values.u8.gz": _gz(b"undeclared"),
        "notes.txt": b"private notes",
    }
    identity: dict[str, Any] = {
        "version": 3,
        "id": dataset_id,
        "name": name,
        "description": f"{name} description",
        "created_at": "2025-01-01T00:00:00Z",
        "cellucid_data_version": "test",
        "stats": {
            "n_cells": N_CELLS,
            "n_genes": 3,
            "n_obs_fields": 2,
            "n_categorical_fields": 1,
            "n_continuous_fields": 1,
            "has_connectivity": True,
            "n_edges": 2,
        },
        "embeddings": {
            "default_dimension": 3,
            "defaults": {"2d": "X_umap", "3d": "X_umap_3d"},
            "items": {
                "X_umap": {
                    "label": "X_umap",
                    "dimension": 2,
                    "file": "embeddings/0_2d.bin.gz",
                    "source": {"key": None, "columns": [0, 1]},
                },
                "X_umap_3d": {
                    "label": "3d",
                    "dimension": 3,
                    "file": "embeddings/1_3d.bin.gz",
                    "source": {"key": None, "columns": [0, 1, 2]},
                },
            },
        },
        "obs_fields": [
            {"key": "total_counts", "kind": "continuous"},
            {"key": "cell_type", "kind": "category", "n_categories": 3},
        ],
        "export_settings": {
            "compression": 6,
            "var_quantization": 8,
            "obs_continuous_quantization": 16,
            "obs_categorical_dtype": "uint8",
        },
        "vector_fields": {
            "default_field": "velocity",
            "fields": {
                "velocity": {"label": "velocity", "files": {"X_umap": "vectors/0_1.bin.gz"}}
            },
        },
    }
    obs = {
        "_format": "compact_v2",
        "n_points": N_CELLS,
        "centroid_outlier_quantile": 0.95,
        "latent_key": "X_umap",
        "compression": 6,
        "_obsSchemas": {
            "continuous": {
                "pathPattern": "obs/{index}.values.u16.gz",
                "ext": "u16",
                "dtype": "uint16",
                "quantized": True,
                "quantizationBits": 16,
            },
            "categorical": {
                "codesPathPattern": "obs/{index}.codes.{ext}.gz",
                "outlierPathPattern": "obs/{index}.outliers.u16.gz",
                "outlierExt": "u16",
                "outlierDtype": "uint16",
                "outlierQuantized": True,
            },
        },
        "_continuousFields": [[0, "total_counts", 1.0, 2.0]],
        "_categoricalFields": [[1, "cell_type", ["a", "b", "c"], "uint8", 255, {}, 0.0, 1.0]],
    }
    var = {
        "_format": "compact_v2",
        "n_points": N_CELLS,
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
        "fields": [[0, "G0", 0.0, 1.0], [1, "G1", 0.0, 1.0], [2, "G2", 0.0, 1.0]],
        "gene_name_sets": [{"source": None, "filled_from_index": 0, "renamed": [], "names": None}],
    }
    connectivity = {
        "format": "edge_pairs",
        "n_cells": N_CELLS,
        "n_edges": 2,
        "max_neighbors": 1,
        "index_bytes": 2,
        "index_dtype": "uint16",
        "sourcesPath": "connectivity/edges.src.bin.gz",
        "destinationsPath": "connectivity/edges.dst.bin.gz",
        "weightsPath": "connectivity/edges.weights.f64.bin.gz",
        "weight_dtype": "float64",
        "weight_bytes": 8,
        "compression": 6,
    }
    for doc_name, doc in [
        ("dataset_identity.json", identity),
        ("obs_manifest.json", obs),
        ("var_manifest.json", var),
        ("connectivity_manifest.json", connectivity),
    ]:
        files[doc_name] = json.dumps(doc).encode()
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


DECLARED = sorted(
    [
        "dataset_identity.json",
        "obs_manifest.json",
        "var_manifest.json",
        "connectivity_manifest.json",
        "embeddings/0_2d.bin.gz",
        "embeddings/1_3d.bin.gz",
        "obs/0.values.u16.gz",
        "obs/1.codes.u8.gz",
        "obs/1.outliers.u16.gz",
        "var/0.values.u8.gz",
        "var/1.values.u8.gz",
        "var/2.values.u8.gz",
        "connectivity/edges.src.bin.gz",
        "connectivity/edges.dst.bin.gz",
        "connectivity/edges.weights.f64.bin.gz",
        "vectors/0_1.bin.gz",
    ]
)


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Run ``app`` under a real uvicorn server on an ephemeral loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    return write_export(tmp_path / "ds", "pbmc-small", "PBMC <b>small</b>", big=True)


@pytest.fixture
def base(export_dir: Path) -> Iterator[str]:
    with running(create_app(export_dir)) as url:
        yield url


@pytest.fixture
def client(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=10) as c:
        yield c


def test_cellucid_routes(client: httpx.Client, base: str) -> None:
    health = client.get("/_cellucid/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["type"] == "exported"
    assert isinstance(health.json()["version"], str)
    assert health.headers["cache-control"] == "no-cache"
    info = client.get("/_cellucid/info").json()
    assert info["mode"] == "standalone"
    assert info["host"] == "127.0.0.1"
    assert info["port"] == int(base.rsplit(":", 1)[1])
    datasets = client.get("/_cellucid/datasets").json()
    assert datasets == {
        "datasets": [{"id": "pbmc-small", "path": "/", "name": "PBMC <b>small</b>"}]
    }
    assert client.get("/_cellucid/nope").status_code == 404


def test_datasets_json_single_folder(client: httpx.Client) -> None:
    resp = client.get("/datasets.json")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["cache-control"] == "no-cache"
    assert resp.json() == {
        "version": 1,
        "default": "pbmc-small",
        "datasets": [
            {
                "id": "pbmc-small",
                "path": "pbmc-small/",
                "name": "PBMC <b>small</b>",
                "description": "PBMC <b>small</b> description",
                "n_cells": N_CELLS,
                "n_genes": 3,
            }
        ],
    }
    # The catalog path resolves (as a browser would resolve it) to the dataset's files, which
    # also answer at the root, as the Cellucid server serves one folder.
    base = httpx.URL(str(client.base_url) + "/")
    identity = client.get(str(base.join("pbmc-small/dataset_identity.json")))
    assert identity.json()["id"] == "pbmc-small"
    assert client.get("/dataset_identity.json").content == identity.content


def test_every_declared_file_is_served_byte_exact(client: httpx.Client, export_dir: Path) -> None:
    for rel in DECLARED:
        resp = client.get("/" + rel)
        assert resp.status_code == 200, rel
        assert resp.content == (export_dir / rel).read_bytes(), rel
        assert "content-encoding" not in resp.headers
        expected_type = "application/json" if rel.endswith(".json") else "application/octet-stream"
        assert resp.headers["content-type"] == expected_type
        assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert resp.headers["accept-ranges"] == "bytes"
        assert resp.headers["etag"].startswith('"')
        assert resp.headers["access-control-allow-origin"] == "*"
        assert int(resp.headers["content-length"]) == (export_dir / rel).stat().st_size


def test_gz_is_raw_bytes_even_when_client_accepts_gzip(
    client: httpx.Client, export_dir: Path
) -> None:
    with client.stream("GET", "/var/0.values.u8.gz", headers={"Accept-Encoding": "gzip"}) as resp:
        raw = resp.read()
    assert "content-encoding" not in resp.headers
    assert raw == (export_dir / "var/0.values.u8.gz").read_bytes()
    assert gzip.decompress(raw) == bytes(range(N_CELLS))


def test_large_file_streams(client: httpx.Client, export_dir: Path) -> None:
    with client.stream("GET", "/var/2.values.u8.gz") as resp:
        assert resp.headers["content-length"] == str(BIG_GENE_BYTES)
        body = b"".join(resp.iter_raw())
    assert body == (export_dir / "var/2.values.u8.gz").read_bytes()


def test_only_declared_files(client: httpx.Client, export_dir: Path) -> None:
    for path in ["/var/3.values.u8.gz", "/notes.txt", "/var/", "/var", "/embeddings/", "/x.json"]:
        resp = client.get(path)
        assert resp.status_code == 404, path
        assert resp.json() == {"error": "not found"}
    assert (export_dir / "var/3.values.u8.gz").exists()


def test_query_string_is_ignored(client: httpx.Client, export_dir: Path) -> None:
    resp = client.get("/var/0.values.u8.gz?x=../../etc/passwd")
    assert resp.status_code == 200
    assert resp.content == (export_dir / "var/0.values.u8.gz").read_bytes()


def test_head(client: httpx.Client, export_dir: Path) -> None:
    resp = client.head("/var/2.values.u8.gz")
    assert resp.status_code == 200
    assert resp.content == b""
    assert resp.headers["content-length"] == str(BIG_GENE_BYTES)
    assert resp.headers["etag"] == client.get("/var/2.values.u8.gz").headers["etag"]
    for path in ["/", "/datasets.json", "/_cellucid/health"]:
        head, get = client.head(path), client.get(path)
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == str(len(get.content))
    assert client.head("/notes.txt").status_code == 404


def test_ranges(client: httpx.Client, export_dir: Path) -> None:
    path = "/var/2.values.u8.gz"
    data = (export_dir / path[1:]).read_bytes()
    size = len(data)
    cases = {
        "bytes=0-9": (0, 10),
        "bytes=100-": (100, size),
        "bytes=-16": (size - 16, size),
        f"bytes=5-{size + 100}": (5, size),
        f"bytes=-{size + 5}": (0, size),
    }
    for header, (start, stop) in cases.items():
        resp = client.get(path, headers={"Range": header})
        assert resp.status_code == 206, header
        assert resp.content == data[start:stop], header
        assert resp.headers["content-range"] == f"bytes {start}-{stop - 1}/{size}"
        assert resp.headers["content-length"] == str(stop - start)
    for header in [f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"]:
        resp = client.get(path, headers={"Range": header})
        assert resp.status_code == 416, header
        assert resp.headers["content-range"] == f"bytes */{size}"
    for header in ["bytes=0-1,4-5", "bytes=9-3", "lines=1-2", "bytes=abc"]:
        resp = client.get(path, headers={"Range": header})
        assert resp.status_code == 200, header
        assert resp.content == data
    head = client.head(path, headers={"Range": "bytes=0-9"})
    assert head.status_code == 206
    assert head.headers["content-range"] == f"bytes 0-9/{size}"


def test_etag_and_conditionals(client: httpx.Client) -> None:
    path = "/var/1.values.u8.gz"
    etag = client.get(path).headers["etag"]
    assert etag != client.get("/var/0.values.u8.gz").headers["etag"]
    for inm in [etag, "*", f'"nope", {etag}', f"W/{etag}"]:
        resp = client.get(path, headers={"If-None-Match": inm})
        assert resp.status_code == 304, inm
        assert resp.content == b""
        assert resp.headers["etag"] == etag
        assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.head(path, headers={"If-None-Match": etag}).status_code == 304
    ranged = client.get(path, headers={"Range": "bytes=0-3", "If-Range": etag})
    assert ranged.status_code == 206
    stale = client.get(path, headers={"Range": "bytes=0-3", "If-Range": '"old"'})
    assert stale.status_code == 200
    weak = client.get(path, headers={"Range": "bytes=0-3", "If-Range": f"W/{etag}"})
    assert weak.status_code == 200
    dated = client.get(
        path, headers={"Range": "bytes=0-3", "If-Range": "Wed, 21 Oct 2015 07:28:00 GMT"}
    )
    assert dated.status_code == 200


def test_cors_and_methods(client: httpx.Client) -> None:
    pre = client.options(
        "/var/0.values.u8.gz",
        headers={"Origin": "https://cellucid.com", "Access-Control-Request-Method": "GET"},
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "*"
    assert pre.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
    assert "range" in pre.headers["access-control-allow-headers"].lower()
    expose = client.get("/var/0.values.u8.gz").headers["access-control-expose-headers"]
    for name in ["Content-Length", "Content-Range", "ETag"]:
        assert name in expose
    for method in ["POST", "PUT", "DELETE", "PATCH"]:
        resp = client.request(method, "/var/0.values.u8.gz")
        assert resp.status_code == 405, method
        assert resp.headers["allow"] == "GET, HEAD, OPTIONS"


def test_host_header_check(client: httpx.Client, base: str) -> None:
    for host in ["127.0.0.1", "localhost", "LOCALHOST:9", "[::1]:8765", "127.0.0.1:1"]:
        assert client.get("/_cellucid/health", headers={"Host": host}).status_code == 200, host
    for host in ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", "10.0.0.1"]:
        resp = client.get("/var/0.values.u8.gz", headers={"Host": host})
        assert resp.status_code == 421, host
        assert "DNS-rebinding" in resp.json()["error"]
    status, _ = raw_get(base, "/_cellucid/health", host="attacker.test")
    assert status == 421


def test_ip_literal_hosts_when_bound_to_all_interfaces(export_dir: Path) -> None:
    with (
        running(create_app(export_dir, allow_ip_hosts=True)) as url,
        httpx.Client(base_url=url) as c,
    ):
        assert c.get("/_cellucid/health", headers={"Host": "192.168.1.5:8765"}).status_code == 200
        assert c.get("/_cellucid/health", headers={"Host": "[fe80::1]:80"}).status_code == 200
        assert c.get("/_cellucid/health", headers={"Host": "rebind.example"}).status_code == 421


TRAVERSALS = [
    "/../../../../etc/passwd",
    "/var/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E/%2E%2E/etc/passwd",
    "/var/%2e%2e/notes.txt",
    "/%252e%252e/%252e%252e/etc/passwd",
    "/var%2f..%2f..%2fetc%2fpasswd",
    "/..%5c..%5c..%5cetc%5cpasswd",
    "/..\\..\\..\\etc\\passwd",
    "/var\\0.values.u8.gz",
    "//etc/passwd",
    "/etc/passwd",
    "/./dataset_identity.json",
    "/var/./0.values.u8.gz",
    "/var//0.values.u8.gz",
    "/var/0.values.u8.gz%00",
    "/%00",
    "/dataset_identity.json/..",
    "http://127.0.0.1/../../etc/passwd",
    "/%c0%ae%c0%ae/etc/passwd",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversal_is_refused(base: str, target: str) -> None:
    status, reply = raw_get(base, target)
    assert status in (400, 404), (target, reply[:200])
    assert b"root:" not in reply
    assert b"private notes" not in reply


def test_manifest_cannot_declare_outside_paths(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "ds", "evil", "evil")
    (tmp_path / "outside.bin").write_bytes(b"outside")
    var = json.loads((folder / "var_manifest.json").read_text())
    var["_varSchema"]["pathPattern"] = "../outside.bin"
    (folder / "var_manifest.json").write_text(json.dumps(var))
    (folder / "var" / "evil").symlink_to(tmp_path / "outside.bin")
    identity = json.loads((folder / "dataset_identity.json").read_text())
    identity["embeddings"]["items"]["X_umap"]["file"] = "var/evil"
    (folder / "dataset_identity.json").write_text(json.dumps(identity))
    with running(create_app(folder)) as url:
        for target in ["/../outside.bin", "/var/evil", "/outside.bin"]:
            status, reply = raw_get(url, target)
            assert status in (400, 404), target
            assert b"outside" not in reply.split(b"\r\n\r\n", 1)[1]


def test_a_declared_file_behind_a_symlinked_folder_is_not_served(tmp_path: Path) -> None:
    """The manifest names ``linked/points.bin`` and ``linked`` is a symlink to a folder
    outside the export: the file resolves outside, so it is not served."""
    folder = write_export(tmp_path / "ds", "evil", "evil")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "points.bin").write_bytes(b"outside")
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    identity = json.loads((folder / "dataset_identity.json").read_text())
    identity["embeddings"]["items"]["X_umap"]["file"] = "linked/points.bin"
    (folder / "dataset_identity.json").write_text(json.dumps(identity))
    with running(create_app(folder)) as url:
        status, reply = raw_get(url, "/linked/points.bin")
    assert status == 404
    assert b"outside" not in reply.split(b"\r\n\r\n", 1)[1]


def test_changed_file_is_refused_with_409(export_dir: Path) -> None:
    with running(create_app(export_dir)) as url, httpx.Client(base_url=url) as c:
        assert c.get("/var/1.values.u8.gz").status_code == 200
        target = export_dir / "var/1.values.u8.gz"
        target.write_bytes(_gz(b"\x09" * (N_CELLS + 1)))
        assert c.get("/var/1.values.u8.gz").status_code == 409
        assert c.head("/var/1.values.u8.gz").status_code == 409
        target.unlink()
        assert c.get("/var/1.values.u8.gz").status_code == 409


def test_html_index_escapes(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "ds", "x<y", "<script>alert(1)</script>")
    with running(create_app(folder)) as url, httpx.Client(base_url=url) as c:
        resp = c.get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.headers["cache-control"] == "no-cache"
    assert "<script>" not in resp.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in resp.text
    assert "x&lt;y" in resp.text
    assert 'href="/dataset_identity.json"' in resp.text
    assert 'href="/datasets.json"' in resp.text


def test_root_of_several_exports(tmp_path: Path) -> None:
    root = tmp_path / "exports"
    write_export(root / "b_dir", "beta", "Beta")
    write_export(root / "a dir", "alpha", "Alpha")
    (root / "not-an-export").mkdir()
    (root / "stray.txt").write_text("x")
    with running(create_app(root)) as url, httpx.Client(base_url=url) as c:
        doc = c.get("/datasets.json").json()
        assert doc["version"] == 1
        assert doc["default"] == "alpha"
        assert [(d["id"], d["path"], d["n_cells"]) for d in doc["datasets"]] == [
            ("alpha", "a%20dir/", N_CELLS),
            ("beta", "b_dir/", N_CELLS),
        ]
        for entry in doc["datasets"]:
            identity = c.get("/" + entry["path"] + "dataset_identity.json")
            assert identity.status_code == 200
            assert identity.json()["id"] == entry["id"]
            gene = c.get("/" + entry["path"] + "var/0.values.u8.gz")
            assert gene.content == (root / "b_dir" / "var/0.values.u8.gz").read_bytes()
        assert c.get("/_cellucid/datasets").json()["datasets"] == [
            {"id": "alpha", "path": "/a%20dir/", "name": "Alpha"},
            {"id": "beta", "path": "/b_dir/", "name": "Beta"},
        ]
        for missing in ["/dataset_identity.json", "/b_dir/notes.txt", "/stray.txt", "/b_dir/"]:
            assert c.get(missing).status_code == 404, missing
        index = c.get("/").text
        assert 'href="/a%20dir/dataset_identity.json"' in index
        assert "Beta" in index


def test_run_server_subprocess(export_dir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "import sys; from pathlib import Path; from cellucid_cloud.serve import run_server; "
        "run_server(Path(sys.argv[1]), port=int(sys.argv[2]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(export_dir), str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/_cellucid/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, "server exited"
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        assert resp.json()["status"] == "ok"
        assert httpx.get(f"http://localhost:{port}/datasets.json").status_code == 200
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/" in stderr


def test_prepared_export_is_served(tmp_path: Path) -> None:
    cc = pytest.importorskip("cellucid_cloud")
    if not hasattr(cc, "prepare"):
        pytest.skip("cellucid_cloud.prepare not available yet")
    anndata = pytest.importorskip("anndata")
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    n = 200
    adata = anndata.AnnData(
        X=rng.poisson(1.0, size=(n, 15)).astype(np.float32),
        obs=pd.DataFrame(
            {
                "cell_type": pd.Categorical(rng.choice(["T", "B", "NK"], n)),
                "total_counts": rng.random(n),
            },
            index=[f"c{i}" for i in range(n)],
        ),
        var=pd.DataFrame(index=[f"g{i}" for i in range(15)]),
    )
    adata.obsm["X_umap"] = rng.normal(size=(n, 2)).astype(np.float32)
    out = tmp_path / "prepared"
    cc.prepare(adata, out, dataset_id="prep", name="Prepared")
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    with running(create_app(out)) as url, httpx.Client(base_url=url) as c:
        assert c.get("/datasets.json").json()["datasets"][0]["n_cells"] == n
        for rel in sorted(on_disk):
            resp = c.get("/" + rel)
            assert resp.status_code == 200, rel
            assert resp.content == (out / rel).read_bytes()
        for i in range(15):
            assert any(p.startswith(f"var/{i}.values.") for p in on_disk)
