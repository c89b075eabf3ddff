"""Direct AnnData serving, three systems side by side, as a browser uses them.

* ours: ``cellucid-cloud serve FILE`` (no export step);
* cellucid 0.9.4: ``cellucid serve FILE --no-browser --no-web-ui --dataset-id … --dataset-name …``;
* cellxgene 1.3.0: ``cellxgene --no-upgrade-check launch FILE --disable-diffexp
  --disable-annotations`` (X in memory, its default), on a copy of FILE whose var columns are
  plain strings: with anndata's nullable strings in var (as the synthetic file has) it answers
  every gene request with 400.

The references are installed from PyPI by this script into their own venvs under ``.bench/``
(gitignored). Every run starts a cold process (the input's pages are warmed first, so no system
pays for the disk), and ours a cold cache too (a fresh ``CELLUCID_CACHE_DIR``: the gene-major copy
is built during the run). Requests carry ``Accept-Encoding: gzip, deflate, br, zstd``; bytes are
counted on the wire. Per run:

* launch → identity: from ``Popen`` to the first complete answer of ``dataset_identity.json``
  (cellxgene: ``/api/v0.2/schema``), with the CPU time the server process had used by then;
  ours also on a restart of the same file (``restart``: its cache folder as the first run left
  it, manifests and gene-major copy in place);
* first coloured frame: what the viewer fetches to draw the cells coloured by the first
  categorical field, after the identity: obs and var manifests, then the default embedding and
  that field's codes, each pair in parallel (cellxgene: schema and config, then the ``umap``
  layout and the annotation, as its client does). Outlier quantiles are not fetched: our viewer
  does not draw centroids on the first frame;
* first gene: one gene right after the first frame (ours: before its gene-major copy is ready),
  with the server process's CPU time for it; ours also "first gene, copy ready": another gene
  once the copy is complete;
* gene: the median of 20 more genes, one at a time; bytes per gene: their median on the wire;
* peak RSS: the whole process tree (ours: server + the child that builds the copy), sampled
  every 50 ms from launch to stop.

Figures are medians of ``--runs`` runs. Values are checked to agree exactly between ours and
cellucid 0.9.4 (both send float32 columns); cellxgene's flatbuffers are not decoded here. Then
ours alone on a 1,000,000-cell file: X is never held whole, and the peak RSS is printed beside
X's size. Results also go to ``.bench/direct-<name>.json``.

Run: ``.venv/bin/python benchmarks/direct_bench.py [--runs 3] [--cells 200000] [--million]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import anndata as ad
import httpx
import numpy as np
import pandas as pd
import psutil

from cellucid_cloud.demo.synthetic import write_synthetic_h5ad
from cellucid_cloud.serve.direct import COPY_ABOVE

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / ".bench"
BROWSER = {"Accept-Encoding": "gzip, deflate, br, zstd"}
CELLUCID = "0.9.4"
CELLXGENE = "1.3.0"
GENES_TIMED = 20
SMALL = "10x_pbmc68k_reduced.h5ad"  # 700 cells x 765 genes, shipped inside scanpy's wheel
TARGETS = {"gene_ms": 50.0, "first_gene_cold_ms": 1000.0, "first_gene_ready_ms": 300.0}
TARGET_LAUNCH_S = 1.0


def reference_python(package: str, version: str) -> Path:
    """A venv with ``package==version`` only, created on first use."""
    venv = BENCH / f"{package}-{version}-venv"
    python = venv / "bin" / "python"
    probe = [str(python), "-m", "pip", "show", "-q", package]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    print(f"installing {package}=={version} into {venv} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, f"{package}=={version}"], check=True)
    return python


def small_dataset() -> Path:
    """scanpy's reduced PBMC68k (a real dataset), taken from scanpy's wheel: no install."""
    target = BENCH / SMALL
    if not target.exists():
        wheels = BENCH / "wheels"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "-d",
                str(wheels),
                "scanpy==1.12.4",
            ],
            check=True,
        )
        wheel = next(wheels.glob("scanpy-1.12.4-*.whl"))
        import zipfile

        with zipfile.ZipFile(wheel) as archive:
            target.write_bytes(archive.read(f"scanpy/datasets/{SMALL}"))
    return target


def synthetic(cells: int, genes: int) -> Path:
    path = BENCH / f"synthetic-{cells}x{genes}-d0.1-s0.h5ad"
    if not path.exists():
        print(f"generating {path.name} ...", flush=True)
        write_synthetic_h5ad(path, cells, genes, density=0.1, seed=0, with_knn=False)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def warm(path: Path) -> None:
    with path.open("rb") as handle:
        while handle.read(16 << 20):
            pass


class TreeRss:
    """Peak RSS of a process and its children, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.peak = 0
        self._root = psutil.Process(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                procs = [self._root, *self._root.children(recursive=True)]
            except psutil.Error:
                procs = []
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(0.05)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


@dataclass
class Fetch:
    seconds: float
    wire: int
    body: bytes


def fetch(client: httpx.Client, url: str) -> Fetch:
    start = time.perf_counter()
    response = client.get(url, headers=BROWSER)
    response.raise_for_status()
    body = response.content
    return Fetch(time.perf_counter() - start, response.num_bytes_downloaded, body)


def fetch_all(client: httpx.Client, urls: Sequence[str]) -> list[Fetch]:
    with ThreadPoolExecutor(len(urls)) as pool:
        return list(pool.map(lambda url: fetch(client, url), urls))


@dataclass
class System:
    """How to launch one server and what a browser asks it for."""

    name: str
    command: Callable[[Path, int], list[str]]
    identity: str
    first_frame: Callable[[httpx.Client, str, bytes], tuple[float, int]]
    gene_url: Callable[[str, int, str], str]
    own_input: Callable[[Path], Path] = field(default=lambda path: path)


def cellucid_frame(client: httpx.Client, base: str, identity_bytes: bytes) -> tuple[float, int]:
    """Our viewer's first frame (identical requests for both Cellucid-format servers)."""
    identity = json.loads(identity_bytes)
    start = time.perf_counter()
    manifests = fetch_all(client, [f"{base}/obs_manifest.json", f"{base}/var_manifest.json"])
    obs = json.loads(manifests[0].body)
    embeddings = identity["embeddings"]
    default = embeddings["defaults"][f"{embeddings['default_dimension']}d"]
    urls = [f"{base}/{embeddings['items'][default]['file']}"]
    field_key = next((f["key"] for f in identity["obs_fields"] if f["kind"] == "category"), None)
    entry = next((e for e in obs["_categoricalFields"] if e[1] == field_key), None)
    if entry is not None:
        ext = {"uint8": "u8", "uint16": "u16", "uint32": "u32"}[entry[3]]
        pattern = obs["_obsSchemas"]["categorical"]["codesPathPattern"]
        urls.append(f"{base}/" + pattern.replace("{index}", str(entry[0])).replace("{ext}", ext))
    payloads = fetch_all(client, urls)
    return time.perf_counter() - start, sum(f.wire for f in manifests + payloads)


def cellxgene_frame(client: httpx.Client, base: str, schema_bytes: bytes) -> tuple[float, int]:
    """cellxgene's first frame: schema and config, then the default layout and a colouring."""
    del schema_bytes  # zstd on the wire, which this client does not inflate: ask once more
    schema = client.get(f"{base}/api/v0.2/schema", headers={"Accept-Encoding": "gzip"})
    columns = schema.json()["schema"]["annotations"]["obs"]["columns"]
    start = time.perf_counter()
    first = fetch_all(client, [f"{base}/api/v0.2/schema", f"{base}/api/v0.2/config"])
    column = next((c["name"] for c in columns if c["type"] == "categorical"), None)
    urls = [f"{base}/api/v0.2/layout/obs?layout-name=umap"]
    if column is not None:
        urls.append(f"{base}/api/v0.2/annotations/obs?annotation-name={quote(column)}")
    second = fetch_all(client, urls)
    return time.perf_counter() - start, sum(f.wire for f in first + second)


def plain_var(path: Path) -> Path:
    """The input with its var columns as plain strings, for cellxgene 1.3.0: with anndata's
    nullable strings in var it answers every gene request with 400. X, obs and obsm are the same."""
    target = path.with_name(path.stem + "-plain-var.h5ad")
    if not target.exists():
        adata = ad.read_h5ad(path)
        var = cast(pd.DataFrame, adata.var)
        adata.var = var.astype({c: object for c in var.columns if var[c].dtype == "string"})
        adata.var.index = adata.var.index.astype(object)
        ad.settings.allow_write_nullable_strings = False
        adata.write_h5ad(target)
    return target


def systems(index_column: str) -> dict[str, System]:
    cellucid_py = reference_python("cellucid", CELLUCID)
    cellxgene_py = reference_python("cellxgene", CELLXGENE)
    ours = Path(sys.executable).parent / "cellucid-cloud"
    return {
        "ours": System(
            "ours",
            lambda path, port: [str(ours), "serve", str(path), "--port", str(port)],
            "/dataset_identity.json",
            cellucid_frame,
            lambda base, gene, _: f"{base}/var/{gene}.values.f32",
        ),
        "cellucid 0.9.4": System(
            "cellucid 0.9.4",
            lambda path, port: [
                str(cellucid_py),
                "-c",
                "from cellucid.cli import main; main()",
                "serve",
                str(path),
                "--port",
                str(port),
                "--no-browser",
                "--no-web-ui",
                "--quiet",
                "--dataset-id",
                "bench",
                "--dataset-name",
                "bench",
            ],
            "/dataset_identity.json",
            cellucid_frame,
            lambda base, gene, _: f"{base}/var/{gene}.values.f32",
        ),
        "cellxgene 1.3.0": System(
            "cellxgene 1.3.0",
            lambda path, port: [
                str(cellxgene_py),
                "-c",
                "from server.cli.cli import cli; cli()",
                "--no-upgrade-check",
                "launch",
                str(path),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--disable-diffexp",
                "--disable-annotations",
            ],
            "/api/v0.2/schema",
            cellxgene_frame,
            lambda base, _, name: (
                f"{base}/api/v0.2/data/var?var:{quote(index_column)}={quote(name, safe='')}"
            ),
            plain_var,
        ),
    }


def wait_for(client: httpx.Client, url: str, process: subprocess.Popen[bytes]) -> bytes:
    deadline = time.monotonic() + 600
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            response = client.get(url, headers=BROWSER)
            if response.status_code == 200:
                return response.content
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no answer from {url}")
        time.sleep(0.01)


def cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU time of ``process`` alone (not of the copy builder, its child)."""
    times = process.cpu_times()
    return float(times.user + times.system)


def launch(
    system: System, path: Path, cache: Path
) -> tuple[subprocess.Popen[bytes], str, float, psutil.Process]:
    port = free_port()
    env = {**os.environ, "CELLUCID_CACHE_DIR": str(cache)}
    log = (BENCH / "direct-server.log").open("ab")
    start = time.perf_counter()
    process = subprocess.Popen(
        system.command(path, port), env=env, stdout=log, stderr=log, cwd=BENCH
    )
    log.close()
    return process, f"http://127.0.0.1:{port}", start, psutil.Process(process.pid)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def one_run(system: System, path: Path, names: list[str], genes: list[int]) -> dict[str, Any]:
    path = system.own_input(path)
    warm(path)
    cache = Path(tempfile.mkdtemp(prefix="direct-bench-cache-", dir=BENCH))
    result: dict[str, Any] = {}
    process, base, start, server = launch(system, path, cache)
    rss = TreeRss(process.pid)
    try:
        with httpx.Client(timeout=600) as client:
            identity = wait_for(client, base + system.identity, process)
            result["launch_s"] = time.perf_counter() - start
            result["launch_cpu_s"] = cpu_seconds(server)
            result["frame_s"], result["frame_bytes"] = system.first_frame(client, base, identity)
            first, second, *rest = genes
            before = cpu_seconds(server)
            gene = fetch(client, system.gene_url(base, first, names[first]))
            result["first_gene_s"] = gene.seconds
            result["first_gene_cpu_s"] = cpu_seconds(server) - before
            result["values"] = {first: gene.body}
            if system.name == "ours" and len(names) * n_cells(path) > COPY_ABOVE:
                result["copy_s"] = wait_copy(cache, process, start)
                ready = fetch(client, system.gene_url(base, second, names[second]))
                result["first_gene_ready_s"] = ready.seconds
            timed = [fetch(client, system.gene_url(base, g, names[g])) for g in rest]
            result["gene_s"] = statistics.median(f.seconds for f in timed)
            result["gene_bytes"] = statistics.median(f.wire for f in timed)
            result["values"].update({g: f.body for g, f in zip(rest, timed, strict=True)})
    finally:
        stop(process)
        result["peak_rss"] = rss.stop()
    try:
        if system.name == "ours":
            result["restart_s"], result["restart_cpu_s"] = restart(system, path, cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return result


def restart(system: System, path: Path, cache: Path) -> tuple[float, float]:
    """Launch → identity (wall, CPU) of a restart on the cache folder the first run left."""
    process, base, start, server = launch(system, path, cache)
    try:
        with httpx.Client(timeout=600) as client:
            wait_for(client, base + system.identity, process)
            return time.perf_counter() - start, cpu_seconds(server)
    finally:
        stop(process)


def n_cells(path: Path) -> int:
    return int(ad.read_h5ad(path, backed="r").n_obs)


def wait_copy(cache: Path, process: subprocess.Popen[bytes], start: float) -> float:
    """Seconds from launch until our gene-major copy is complete."""
    while not list(cache.glob("*/copy.json")):
        if process.poll() is not None:
            raise RuntimeError("our server exited while building the copy")
        time.sleep(0.05)
    return time.perf_counter() - start


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k in runs[0] if k != "values"]
    return {k: statistics.median(r[k] for r in runs) for k in keys} | {"values": runs[0]["values"]}


def gene_values(body: bytes) -> np.ndarray:
    return np.frombuffer(body, "<f4")


def compare(results: dict[str, dict[str, Any]]) -> str:
    ours, ref = results.get("ours"), results.get("cellucid 0.9.4")
    if ours is None or ref is None:
        return "values: not compared"
    common = sorted(set(ours["values"]) & set(ref["values"]))
    same = all(
        np.array_equal(gene_values(ours["values"][g]), gene_values(ref["values"][g]))
        for g in common
    )
    return f"values: {len(common)} genes {'agree exactly' if same else 'DIFFER'} with cellucid"


def table(label: str, results: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        f"| {label} | launch → identity (CPU) | first coloured frame | first gene (CPU) | "
        f"gene (median of {GENES_TIMED}) | bytes per gene | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        launched = f"{r['launch_s']:.2f} s ({r['launch_cpu_s']:.2f} s)"
        if "restart_s" in r:
            launched += f"; restart {r['restart_s']:.2f} s ({r['restart_cpu_s']:.2f} s)"
        first = f"{r['first_gene_s'] * 1000:,.0f} ms ({r['first_gene_cpu_s'] * 1000:,.0f} ms)"
        if "first_gene_ready_s" in r:
            first += f"; {r['first_gene_ready_s'] * 1000:,.0f} ms copy ready"
        lines.append(
            f"| {name} | {launched} | {r['frame_s'] * 1000:,.0f} ms, "
            f"{r['frame_bytes'] / 1e6:.2f} MB | {first} | {r['gene_s'] * 1000:,.1f} ms | "
            f"{r['gene_bytes'] / 1000:,.0f} KB | {r['peak_rss'] / 2**20:,.0f} MiB |"
        )
    return lines


def ratios(results: dict[str, dict[str, Any]]) -> list[str]:
    ours = results["ours"]
    lines = []
    for name, r in results.items():
        if name == "ours":
            continue
        # A reference's CPU time can read 0 on a tiny file (below the clock's resolution).
        parts = [
            f"{key} {ours[key] / r[key]:.2f}x" if r[key] else f"{key} n/a (reference 0)"
            for key in (
                "launch_s",
                "launch_cpu_s",
                "frame_s",
                "first_gene_s",
                "first_gene_cpu_s",
                "gene_s",
                "gene_bytes",
                "peak_rss",
            )
        ]
        lines.append(f"ours / {name}: " + ", ".join(parts))
    return lines


def verdict(results: dict[str, dict[str, Any]]) -> list[str]:
    ours = results["ours"]
    ok = {True: "PASS", False: "FAIL"}
    checks = [
        ("gene median ≤ 50 ms", ours["gene_s"] * 1000 <= TARGETS["gene_ms"]),
        ("first gene before copy ≤ 1 s", ours["first_gene_s"] * 1000 <= 1000),
        ("first gene with copy ≤ 300 ms", ours.get("first_gene_ready_s", 0) * 1000 <= 300),
        ("launch → identity ≤ 1.0 s", ours["launch_s"] <= TARGET_LAUNCH_S),
        ("launch → identity ≤ 1.0 s, restart", ours.get("restart_s", 0) <= TARGET_LAUNCH_S),
    ]
    if "cellucid 0.9.4" in results:
        checks.append(
            (
                "bytes per gene ≤ cellucid 0.9.4",
                ours["gene_bytes"] <= results["cellucid 0.9.4"]["gene_bytes"],
            )
        )
    if "cellxgene 1.3.0" in results:
        checks.append(
            (
                "peak RSS ≤ cellxgene 1.3.0",
                ours["peak_rss"] <= results["cellxgene 1.3.0"]["peak_rss"],
            )
        )
    return [f"{ok[passed]}  {text}" for text, passed in checks]


def gene_choice(n_genes: int) -> list[int]:
    step = max(1, n_genes // (GENES_TIMED + 2))
    return list(range(step // 2, n_genes, step))[: GENES_TIMED + 2]


def bench(label: str, path: Path, runs: int, chosen: list[str]) -> dict[str, dict[str, Any]]:
    names = [str(name) for name in ad.read_h5ad(path, backed="r").var_names]
    genes = gene_choice(len(names))
    all_systems = systems(_var_index_column(path))
    results: dict[str, dict[str, Any]] = {}
    for name in chosen:
        system = all_systems[name]
        measured = []
        for i in range(runs):
            print(f"[{label}] {name} run {i + 1}/{runs} ...", flush=True)
            measured.append(one_run(system, path, names, genes))
        results[name] = medians(measured)
    return results


def _var_index_column(path: Path) -> str:
    """The name cellxgene gives the var index in its schema (``name_0`` unless a column has it)."""
    columns = set(ad.read_h5ad(path, backed="r").var.columns)
    name = "name_0"
    while name in columns:
        name = f"name_{int(name.split('_')[1]) + 1}"
    return name


def million(runs: int) -> list[str]:
    """Ours alone on 1M cells: never holding X whole, peak RSS beside X's size."""
    path = synthetic(1_000_000, 2000)
    names = [str(name) for name in ad.read_h5ad(path, backed="r").var_names]
    system = systems(_var_index_column(path))["ours"]
    measured = [one_run(system, path, names, gene_choice(len(names))) for _ in range(runs)]
    r = medians(measured)
    import h5py

    with h5py.File(path) as handle:
        x_bytes = sum(handle["X"][k].size * handle["X"][k].dtype.itemsize for k in handle["X"])
    return [
        *table("ours, 1,000,000 × 2,000", {"ours": r}),
        "",
        f"X (data + indices + indptr): {x_bytes / 2**20:,.0f} MiB; peak RSS of server + copy "
        f"builder: {r['peak_rss'] / 2**20:,.0f} MiB; copy complete {r['copy_s']:.1f} s "
        "after launch",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cells", type=int, default=200_000)
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--million", action="store_true", help="also ours on 1M cells")
    parser.add_argument(
        "--datasets", default="large,small", help="large, small, large,small or none"
    )
    parser.add_argument(
        "--systems", default="ours,cellucid 0.9.4,cellxgene 1.3.0", help="comma-separated"
    )
    args = parser.parse_args()
    BENCH.mkdir(exist_ok=True)
    chosen = [name.strip() for name in args.systems.split(",")]
    out: list[str] = [f"uptime at start: {os.getloadavg()}"]
    datasets: dict[str, Callable[[], tuple[str, Path]]] = {
        "large": lambda: (
            f"{args.cells:,} × {args.genes:,} CSR",
            synthetic(args.cells, args.genes),
        ),
        "small": lambda: ("PBMC68k reduced (700 × 765)", small_dataset()),
    }
    for which in [] if args.datasets == "none" else args.datasets.split(","):
        label, path = datasets[which.strip()]()
        results = bench(label, path, args.runs, chosen)
        start = len(out)
        out += ["", *table(label, results), "", compare(results)]
        if "ours" in results:
            out += [*ratios(results), *verdict(results)]
            copy_s = results["ours"].get("copy_s")
            out.append(
                f"ours: gene-major copy complete {copy_s:.1f} s after launch"
                if copy_s is not None
                else "ours: no gene-major copy (X below COPY_ABOVE cells x genes)"
            )
        slug = "small" if which.strip() == "small" else f"{args.cells}"
        (BENCH / f"direct-{slug}.json").write_text(
            json.dumps(
                {k: {m: v for m, v in r.items() if m != "values"} for k, r in results.items()}
            )
        )
        print("\n".join(out[start:]), flush=True)
    if args.million:
        out += ["", *million(1)]
        print("\n".join(out[-5:]), flush=True)
    out.append(f"uptime at end: {os.getloadavg()}")
    print("\n\nSUMMARY\n" + "\n".join(out))


if __name__ == "__main__":
    main()
