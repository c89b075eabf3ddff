"""Meta lookups (``GET /dp/v1/datasets/meta?url=…``) over real HTTP against a large catalog.

For each catalog backend — SQLite (the ``up`` stack's) and DynamoDB on a moto server (the AWS
adapter, over HTTP to a ``ThreadedMotoServer`` in its own process) — the catalog is seeded
through the repository port (collections of 100 published, ready datasets; commits of at most
100 writes), then the API (``build_api``: the app the Lambda serves, over this backend) runs
under uvicorn in a subprocess. A keep-alive HTTP/1.1 client (``http.client``, one connection
per thread; httpx's async client used 3.5 ms of CPU per request here, twice the server's)
measures:

* latency: one connection, requests one after another (p50/p99 of an unloaded server);
* throughput: ``--connections`` concurrent keep-alive connections for ``--seconds``
  (requests/s, p50/p99 under load), with the CPU time the server and the client used: on a
  shared machine, server CPU ms per request is the figure other work disturbs least;

with the meta cache warm (TTL 60 s; a hot set of ``--hot`` datasets, each looked up once
beforehand) and off (TTL 0: every lookup reads the catalog; ids drawn from the whole catalog).
Every answer is checked (status 200, the right dataset). Server, client and moto are separate
processes competing for the machine's cores.

moto's ``TransactWriteItems`` deep-copies the whole table for each transaction, so seeding
through the port slows quadratically with the table's size (100,000 datasets took moto past
13 GB). The DynamoDB catalog is therefore bulk-loaded with ``BatchWriteItem``, 25 items a call,
as the items a commit would write (``stored_item``); lookups then read it as in production.

Also measures the API's start (import + app build) in fresh interpreters against the 400 ms
target, with import time by package (``python -X importtime``).

Run: ``.venv/bin/python benchmarks/meta_bench.py [--datasets 100000] [--moto-datasets 100000]``
Results also go to ``.bench/meta_bench.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psutil

from cellucid_cloud.catalog.models import (
    Collection,
    CollectionMetadata,
    CollectionVersion,
    Dataset,
    DatasetStats,
    DatasetStatus,
    DatasetVersion,
    new_id,
)
from cellucid_cloud.catalog.repository import MAX_WRITES, CatalogRepository, Put, Write

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / ".bench"
PER_COLLECTION = 100
BATCH_WRITE_LIMIT = 25
IMPORT_TARGET = 0.400
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
"""moto needs credentials to sign with; fake ones make sure nothing reaches real AWS."""


# -- seeding -------------------------------------------------------------------------------------


def sorted_ids(n: int) -> Iterator[str]:
    """``n`` random UUID4s in ascending order: each kind's inserts then append to the end of
    the SQLite B-tree instead of landing on random pages (100k datasets: ~20 s, not ~95 s)."""
    return iter(sorted(new_id() for _ in range(n)))


def catalog_writes(n_datasets: int) -> Iterator[tuple[Write, str | None]]:
    """Puts for published collections of ``PER_COLLECTION`` ready datasets, each with the
    dataset id it creates (None for collection records)."""
    now = datetime.now(UTC)
    metadata = CollectionMetadata(
        name="Benchmark atlas", contact_name="Ada Lovelace", contact_email="ada@example.org"
    )
    n_collections = -(-n_datasets // PER_COLLECTION)
    dataset_ids, dataset_version_ids = sorted_ids(n_datasets), sorted_ids(n_datasets)
    collection_ids, collection_version_ids = sorted_ids(n_collections), sorted_ids(n_collections)
    for start in range(0, n_datasets, PER_COLLECTION):
        collection_id, version_id = next(collection_ids), next(collection_version_ids)
        datasets: dict[str, str] = {}
        for _ in range(min(PER_COLLECTION, n_datasets - start)):
            dataset_id, dataset_version_id = next(dataset_ids), next(dataset_version_ids)
            prefix = f"exports/{dataset_version_id}/"
            datasets[dataset_id] = dataset_version_id
            version = DatasetVersion(
                version_id=dataset_version_id,
                dataset_id=dataset_id,
                collection_id=collection_id,
                name="lung",
                status=DatasetStatus.READY,
                export_prefix=prefix,
                stats=DatasetStats(name="lung", n_cells=50_000, n_genes=2_000, bytes=10**7),
                created_at=now,
                updated_at=now,
            )
            dataset = Dataset(
                dataset_id=dataset_id,
                collection_id=collection_id,
                version_id=dataset_version_id,
                export_prefix=prefix,
                published_versions=(dataset_version_id,),
            )
            yield Put(version, create=True), None
            yield Put(dataset, create=True), dataset_id
        yield (
            Put(
                CollectionVersion(
                    version_id=version_id,
                    collection_id=collection_id,
                    metadata=metadata,
                    datasets=datasets,
                    created_at=now,
                    published_at=now,
                ),
                create=True,
            ),
            None,
        )
        collection = Collection(
            collection_id=collection_id,
            owner="benchmark-curator",
            published_version_id=version_id,
            created_at=now,
            published_at=now,
        )
        yield Put(collection, create=True), None


def bulk_load(client: Any, table: str, n_datasets: int) -> tuple[list[str], float]:
    """Write the same catalog with ``BatchWriteItem`` (no transactions, no conditions)."""
    from cellucid_cloud.catalog.dynamodb_repository import stored_item

    started = time.perf_counter()
    dataset_ids: list[str] = []
    requests: list[dict[str, Any]] = []
    for write, dataset_id in catalog_writes(n_datasets):
        requests.append({"PutRequest": {"Item": stored_item(write.record)}})
        if dataset_id is not None:
            dataset_ids.append(dataset_id)
        if len(requests) == BATCH_WRITE_LIMIT:
            _batch_write(client, table, requests)
            requests = []
    if requests:
        _batch_write(client, table, requests)
    return dataset_ids, time.perf_counter() - started


def _batch_write(client: Any, table: str, requests: list[dict[str, Any]]) -> None:
    while requests:
        reply = client.batch_write_item(RequestItems={table: requests})
        requests = reply.get("UnprocessedItems", {}).get(table, [])


def seed(repository: CatalogRepository, n_datasets: int) -> tuple[list[str], float]:
    """Commit the catalog in commits of ``MAX_WRITES``; the dataset ids and the seconds taken."""
    started = time.perf_counter()
    dataset_ids: list[str] = []
    batch: list[Write] = []
    for write, dataset_id in catalog_writes(n_datasets):
        batch.append(write)
        if dataset_id is not None:
            dataset_ids.append(dataset_id)
        if len(batch) == MAX_WRITES:
            repository.commit(batch)
            batch = []
    if batch:
        repository.commit(batch)
    return dataset_ids, time.perf_counter() - started


# -- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within 60 s")


@contextmanager
def running(args: Sequence[str], ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, __file__, *args], env={**os.environ, **FAKE_AWS_ENV}
    )
    try:
        wait_until_up(ready_url, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def serve_moto(port: int) -> None:
    """A ThreadedMotoServer in this process until it is terminated."""
    import logging
    import threading

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request
    ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False).start()
    threading.Event().wait()


def serve_api(backend: str, location: str, port: int, ttl: float) -> None:
    """The API over one catalog backend under uvicorn, until terminated."""
    import uvicorn

    from cellucid_cloud.api.app import build_api
    from cellucid_cloud.api.auth import Authenticator, new_secret
    from cellucid_cloud.api.context import ApiContext
    from cellucid_cloud.catalog.meta import MetaService
    from cellucid_cloud.catalog.service import CatalogService
    from cellucid_cloud.local.link_ingest import LocalLinkIngest
    from cellucid_cloud.storage.filesystem import FilesystemObjectStore
    from cellucid_cloud.storage.local_upload_urls import LocalUploadUrls

    repository = open_repository(backend, location)
    base_url = f"http://127.0.0.1:{port}"
    secret = new_secret()
    catalog = CatalogService(repository)
    with tempfile.TemporaryDirectory(prefix="meta-bench-") as tmp:
        scratch = Path(tmp)
        meta = MetaService(
            repository,
            FilesystemObjectStore(scratch),
            base_url,
            ttl=ttl,
            miss_ttl=min(5.0, ttl),
            clock=time.monotonic,
        )
        context = ApiContext(
            catalog=catalog,
            meta=meta,
            auth=Authenticator(repository, secret),
            uploads=LocalUploadUrls(base_url, secret),
            links=LocalLinkIngest(catalog, scratch, lambda key: None, max_bytes=1),
        )
        app = build_api(context)
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def open_repository(backend: str, location: str) -> CatalogRepository:
    """``location``: the SQLite file, or ``<endpoint url>#<table>`` for DynamoDB."""
    if backend == "sqlite":
        from cellucid_cloud.catalog.sqlite_repository import SqliteCatalogRepository

        return SqliteCatalogRepository(location)
    from cellucid_cloud.catalog.dynamodb_repository import (
        DynamoDbCatalogRepository,
        dynamodb_client,
    )

    endpoint, table = location.split("#")
    return DynamoDbCatalogRepository(table, dynamodb_client(endpoint_url=endpoint))


# -- load ----------------------------------------------------------------------------------------


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu: float
    """Server CPU seconds per wall second (1.0 = one core busy)."""
    client_cpu: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def drive(
    port: int,
    dataset_ids: Iterator[str],
    *,
    connections: int,
    seconds: float | None = None,
) -> tuple[list[float], float]:
    """Look up the datasets ``dataset_ids`` yields on ``connections`` keep-alive connections
    (a thread each), until it is exhausted or for ``seconds``; each answer is checked.
    Latencies in seconds, and the wall time."""
    lock = threading.Lock()
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds if seconds is not None else None

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        try:
            while deadline is None or time.perf_counter() < deadline:
                with lock:
                    dataset_id = next(dataset_ids, None)
                if dataset_id is None:
                    break
                query = urlencode({"url": f"https://h/e/{dataset_id}/"})
                sent = time.perf_counter()
                connection.request("GET", f"/dp/v1/datasets/meta?{query}")
                reply = connection.getresponse()
                body = reply.read()
                mine.append(time.perf_counter() - sent)
                if reply.status != 200 or json.loads(body)["dataset_id"] != dataset_id:
                    raise RuntimeError(f"bad answer for {dataset_id}: {reply.status} {body!r}")
        finally:
            connection.close()
            with lock:
                latencies.extend(mine)

    with ThreadPoolExecutor(connections) as pool:
        for done in [pool.submit(worker) for _ in range(connections)]:
            done.result()
    return latencies, time.perf_counter() - started


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def random_ids(dataset_ids: list[str], count: int | None = None) -> Iterator[str]:
    """Ids drawn uniformly (``count`` of them, or forever), the same sequence every run."""
    rng = random.Random(0)
    while count is None or count > 0:
        yield rng.choice(dataset_ids)
        count = None if count is None else count - 1


def measure(port: int, server: psutil.Process, dataset_ids: Iterator[str], **kwargs: Any) -> Load:
    client = psutil.Process()
    server_before, client_before = cpu_seconds(server), cpu_seconds(client)
    latencies, wall = drive(port, dataset_ids, **kwargs)
    server_cpu = cpu_seconds(server) - server_before
    client_cpu = cpu_seconds(client) - client_before
    latencies.sort()
    return Load(
        requests=len(latencies),
        seconds=wall,
        p50_ms=1000 * percentile(latencies, 0.50),
        p99_ms=1000 * percentile(latencies, 0.99),
        server_cpu=server_cpu / wall,
        client_cpu=client_cpu / wall,
    )


@dataclass
class Row:
    backend: str
    datasets: int
    cache: str
    latency: Load
    throughput: Load


def bench_backend(
    backend: str, location: str, dataset_ids: list[str], args: argparse.Namespace
) -> list[Row]:
    rows = []
    rng = random.Random(1)
    hot = rng.sample(dataset_ids, min(args.hot, len(dataset_ids)))
    for cache, ttl, ids in (("warm (ttl 60 s)", 60.0, hot), ("off (ttl 0)", 0.0, dataset_ids)):
        port = free_port()
        serve = ["serve-api", backend, location, str(port), str(ttl)]
        with running(serve, f"http://127.0.0.1:{port}/_cellucid/health") as process:
            server = psutil.Process(process.pid)
            if ttl > 0:
                drive(port, iter(hot), connections=8)  # each once
            latency = measure(port, server, random_ids(ids, args.sequential), connections=1)
            throughput = measure(
                port,
                server,
                random_ids(ids),
                connections=args.connections,
                seconds=args.seconds,
            )
        rows.append(Row(backend, len(dataset_ids), cache, latency, throughput))
        print(f"  {backend:8} {cache:16} {throughput.per_second:8.0f} req/s", flush=True)
    return rows


# -- import time ---------------------------------------------------------------------------------

TIMED = """
import time
t, cpu = time.perf_counter(), time.process_time()
{code}
print(time.perf_counter() - t, time.process_time() - cpu)
"""
BUILDS = {
    "import cellucid_cloud.api.app": TIMED.format(
        code="from cellucid_cloud.api.app import build_api"
    ),
    "import + build, Lambda wiring": TIMED.format(
        code="""
from cellucid_cloud.api.app import build_api
from cellucid_cloud.api.auth import Authenticator
from cellucid_cloud.api.context import ApiContext
from cellucid_cloud.catalog.dynamodb_repository import DynamoDbCatalogRepository, dynamodb_client
from cellucid_cloud.catalog.meta import MetaService
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.storage.s3 import S3ObjectStore, S3UploadUrls, s3_client
class NoLinks:
    def ingest(self, link, key):
        raise NotImplementedError
repo = DynamoDbCatalogRepository("catalog", dynamodb_client())
s3 = s3_client()
build_api(ApiContext(
    catalog=CatalogService(repo),
    meta=MetaService(repo, S3ObjectStore("exports", s3), "http://h", clock=time.monotonic),
    auth=Authenticator(repo, "s" * 40),
    uploads=S3UploadUrls("uploads", s3),
    links=NoLinks(),
))
"""
    ),
}
"""Timed from the first import (interpreter start excluded): the API module alone, and the API
as the Lambda builds it (DynamoDB and S3 adapters with their boto3 clients). No request is
made, so no AWS endpoint is needed."""


def import_seconds(code: str, runs: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of ``runs`` fresh interpreters, after one that writes the bytecode
    (as a deployed package has it; this shell may set PYTHONDONTWRITEBYTECODE). CPU time is
    what a busy machine inflates least."""
    env = {**os.environ, **FAKE_AWS_ENV}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    results = []
    for _ in range(runs + 1):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        wall, cpu = done.stdout.split()
        results.append((float(wall), float(cpu)))
    return results[1:]


def import_ms_by_package(code: str, top: int) -> list[tuple[str, float]]:
    """Import time (ms) by top-level package: the sum of each module's own time, from
    ``python -X importtime`` (so nested imports are counted once, under their package)."""
    env = {**os.environ, **FAKE_AWS_ENV}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    totals: dict[str, float] = {}
    for line in done.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue
        package = fields[2].strip().split(".")[0]
        totals[package] = totals.get(package, 0.0) + int(fields[0]) / 1000
    return sorted(totals.items(), key=lambda item: -item[1])[:top]


# -- main ----------------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve-moto":
        serve_moto(int(sys.argv[2]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "serve-api":
        serve_api(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=int, default=100_000, help="SQLite catalog size")
    parser.add_argument(
        "--moto-datasets", type=int, default=100_000, help="DynamoDB-on-moto catalog size"
    )
    parser.add_argument("--hot", type=int, default=2_000, help="datasets in the warm set")
    parser.add_argument("--sequential", type=int, default=2_000, help="requests, latency run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0, help="per throughput run")
    parser.add_argument("--runs", type=int, default=7, help="import-time runs")
    args = parser.parse_args()
    BENCH.mkdir(exist_ok=True)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    rows: list[Row] = []
    seeding: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="meta-bench-") as tmp:
        from cellucid_cloud.catalog.sqlite_repository import SqliteCatalogRepository

        path = Path(tmp) / "catalog.sqlite3"
        sqlite = SqliteCatalogRepository(path)
        ids, took = seed(sqlite, args.datasets)
        sqlite.close()
        seeding["sqlite"] = {"datasets": len(ids), "seconds": took}
        print(f"seeded SQLite with {len(ids):,} datasets in {took:.1f} s", flush=True)
        rows += bench_backend("sqlite", str(path), ids, args)

    moto_port = free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    with running(["serve-moto", str(moto_port)], f"{endpoint}/moto-api/"):
        from cellucid_cloud.catalog.dynamodb_repository import (
            dynamodb_client,
            ensure_table,
        )

        os.environ.update(FAKE_AWS_ENV)
        client = dynamodb_client(endpoint_url=endpoint)
        ensure_table(client, "catalog")
        ids, took = bulk_load(client, "catalog", args.moto_datasets)
        seeding["dynamodb (moto)"] = {"datasets": len(ids), "seconds": took}
        print(f"seeded DynamoDB on moto with {len(ids):,} datasets in {took:.1f} s", flush=True)
        rows += bench_backend("dynamodb", f"{endpoint}#catalog", ids, args)

    imports = {name: import_seconds(code, args.runs) for name, code in BUILDS.items()}
    by_package = {name: import_ms_by_package(code, 12) for name, code in BUILDS.items()}
    report(rows, seeding, imports, by_package, args)


def report(
    rows: list[Row],
    seeding: dict[str, dict[str, float]],
    imports: dict[str, list[tuple[float, float]]],
    by_package: dict[str, list[tuple[str, float]]],
    args: argparse.Namespace,
) -> None:
    print()
    print(
        f"| backend | datasets | meta cache | req/s ({args.connections} conn.) | p50 ms | p99 ms "
        "| server CPU | client CPU | server CPU ms/req | p50 ms (1 conn.) | p99 ms (1 conn.) |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        t, s = row.throughput, row.latency
        print(
            f"| {row.backend} | {row.datasets:,} | {row.cache} | {t.per_second:,.0f} | "
            f"{t.p50_ms:.1f} | {t.p99_ms:.1f} | {t.server_cpu:.0%} | {t.client_cpu:.0%} | "
            f"{1000 * t.server_cpu / t.per_second:.2f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} |"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print()
    for name, took in seeding.items():
        print(f"seeding {name}: {took['datasets']:,.0f} datasets in {took['seconds']:.1f} s")
    print()
    print(
        f"API start, median of {args.runs} fresh interpreters (target ≤ 400 ms; judged on CPU "
        "time, which is the wall time of an idle machine: importing is CPU-bound):"
    )
    for name, runs in imports.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        verdict = "met" if cpu <= IMPORT_TARGET else "NOT met"
        each = ", ".join(f"{1000 * r[0]:.0f}" for r in runs)
        print(f"  {name}: {1000 * wall:.0f} ms wall, {1000 * cpu:.0f} ms CPU ({verdict}; {each})")
        print("    by package (ms): " + ", ".join(f"{p} {ms:.0f}" for p, ms in by_package[name]))
    result = {
        "load_average": os.getloadavg(),
        "args": vars(args),
        "rows": [asdict(row) | {"requests_per_second": row.throughput.per_second} for row in rows],
        "seeding": seeding,
        "import_seconds": imports,
        "import_ms_by_package": by_package,
    }
    (BENCH / "meta_bench.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
