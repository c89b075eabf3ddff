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
from cellucid_cloud.catalog.repository import MAX_WRITES, Put, Write
from cellucid_cloud.core.ports import CatalogRepository

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / ".bench"
PER_COLLECTION = 100
BATCH_WRITE_LIMIT = 25
START_TARGET = 0.350
"""The meta function's import + build, CPU seconds (issue 17)."""
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
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
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
    from cellucid_cloud.storage.filesystem import FilesystemDownloads, FilesystemObjectStore
    from cellucid_cloud.storage.local_upload_urls import LocalUploadUrls

    repository = open_repository(backend, location)
    base_url = f"http://127.0.0.1:{port}"
    secret = new_secret()
    catalog = CatalogService(repository)
    with tempfile.TemporaryDirectory(prefix="meta-bench-") as tmp:
        scratch = Path(tmp)
        meta = MetaService(
            catalog,
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
            downloads=FilesystemDownloads(FilesystemObjectStore(scratch)),
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

TEMPLATE = ROOT / "template.yaml"
TEMPLATE_VALUES = {
    "CATALOG_TABLE": "cellucid-CatalogTable-1ABCDEF",
    "IDEMPOTENCY_TABLE": "cellucid-IdempotencyTable-1ABCDEF",
    "UPLOADS_BUCKET": "cellucid-prod-uploads-123456789012-us-east-1",
    "EXPORTS_BUCKET": "cellucid-exportsbucket-1abcdef",
    "SESSIONS_BUCKET": "cellucid-prod-sessions-123456789012-us-east-1",
    "PUBLIC_BASE_URL": "https://d111111abcdef8.cloudfront.net",
    "TOKEN_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:token-AbCdEf",
    "PREPARE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/cellucid-prepare",
}
"""What the template's references resolve to, for the variables it sets by reference."""
UNREACHABLE = "http://127.0.0.1:9"
"""Where boto3 would go: nothing listens, so a request at import or build would fail."""


def template_environment(function: str) -> dict[str, str]:
    """The environment the template gives ``function`` (Globals and its own variables)."""
    from cfnlint.decode import decode

    template, matches = decode(str(TEMPLATE))
    if matches or template is None:
        raise SystemExit("\n".join(str(m) for m in matches) or "template.yaml did not parse")
    variables = {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **template["Resources"][function]["Properties"]["Environment"]["Variables"],
    }
    parameters = template["Parameters"]
    environment = {}
    for name, value in variables.items():
        if isinstance(value, str):
            environment[name] = value
        elif isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
            environment[name] = str(parameters[value["Ref"]]["Default"])
        else:
            environment[name] = TEMPLATE_VALUES[name]
    return environment


FUNCTION_START = """
import importlib.util, time
t, cpu = time.perf_counter(), time.process_time()
spec = importlib.util.spec_from_file_location("app", "{root}/functions/{name}/app.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from cellucid_cloud.aws.{module} import {builder}
{builder}()
print(time.perf_counter() - t, time.process_time() - cpu)
"""
STARTS = {
    "meta function: functions/meta/app.py + meta_app()": (
        "MetaFunction",
        FUNCTION_START.format(root=ROOT, name="meta", module="meta", builder="meta_app"),
    ),
    "API function: functions/api/app.py + api_handler()": (
        "ApiFunction",
        FUNCTION_START.format(root=ROOT, name="api", module="api", builder="api_handler"),
    ),
}
"""Timed from the first import (interpreter start excluded): the handler module as Lambda
imports it (Powertools' logger and metrics; the API's tracer) and the app its handler serves,
built as on a cold start. Neither build makes a request: clients and the signing secret wait
for the first request that needs them."""


def start_environment(function: str) -> dict[str, str]:
    env = {**os.environ, **FAKE_AWS_ENV, **template_environment(function)}
    env["AWS_ENDPOINT_URL"] = UNREACHABLE
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def import_seconds(function: str, code: str, runs: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of ``runs`` fresh interpreters, after one that writes the bytecode
    (as a deployed package has it; this shell may set PYTHONDONTWRITEBYTECODE). CPU time is
    what a busy machine inflates least."""
    env = start_environment(function)
    results = []
    for _ in range(runs + 1):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        wall, cpu = done.stdout.split()
        results.append((float(wall), float(cpu)))
    return results[1:]


def import_ms_by_package(function: str, code: str, top: int) -> list[tuple[str, float]]:
    """Import time (ms) by top-level package: the sum of each module's own time, from
    ``python -X importtime`` (so nested imports are counted once, under their package)."""
    env = start_environment(function)
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


# -- warm handlers -------------------------------------------------------------------------------


@dataclass
class BenchContext:
    """What Powertools reads from a Lambda context."""

    function_name: str
    memory_limit_in_mb: int = 1024
    aws_request_id: str = "bench"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bench"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def warm_handlers(endpoint: str, dataset_ids: list[str], args: argparse.Namespace) -> list[Load]:
    """Both handlers in this process over the DynamoDB catalog (TTL 60 s, the hot set looked
    up once first), then ``--sequential`` lookups each, alternating: milliseconds per
    invocation, from the HTTP API event to the handler's answer."""
    import importlib.util

    from cellucid_cloud.aws.api import api_handler
    from cellucid_cloud.aws.meta import meta_app

    environment = {
        **template_environment("MetaFunction"),
        **template_environment("ApiFunction"),
        "AWS_ENDPOINT_URL": endpoint,
        "CATALOG_TABLE": "catalog",
        "META_TTL": "60",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    os.environ.update(environment)
    api_handler.cache_clear()
    meta_app.cache_clear()
    handlers = {}
    for name in ("meta", "api"):
        spec = importlib.util.spec_from_file_location(
            f"bench_{name}", ROOT / f"functions/{name}/app.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        handlers[name] = module.handler
    sample = (ROOT / "events" / "meta" / "meta.json").read_text()
    sample_id = "9b2e7f40-3c1d-4e5a-8f6b-7a0c1d2e3f45"
    rng = random.Random(1)
    hot = rng.sample(dataset_ids, min(args.hot, len(dataset_ids)))
    latencies: dict[str, list[float]] = {name: [] for name in handlers}
    for round_, ids in enumerate((hot, list(random_ids(hot, args.sequential)))):
        for dataset_id in ids:
            event = json.loads(sample.replace(sample_id, dataset_id))
            for name, handler in handlers.items():
                sent = time.perf_counter()
                reply = handler(event, BenchContext(f"cellucid-{name}"))
                took = time.perf_counter() - sent
                if (
                    reply["statusCode"] != 200
                    or json.loads(reply["body"])["dataset_id"] != dataset_id
                ):
                    raise RuntimeError(f"{name}: bad answer for {dataset_id}: {reply}")
                if round_:
                    latencies[name].append(took)
    loads = []
    for values in latencies.values():
        values.sort()
        loads.append(
            Load(
                requests=len(values),
                seconds=sum(values),
                p50_ms=1000 * percentile(values, 0.50),
                p99_ms=1000 * percentile(values, 0.99),
                server_cpu=0.0,
                client_cpu=0.0,
            )
        )
    return loads


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
    parser.add_argument("--runs", type=int, default=7, help="start-time runs")
    parser.add_argument(
        "--start-only", action="store_true", help="only the functions' start (no catalog)"
    )
    args = parser.parse_args()
    BENCH.mkdir(exist_ok=True)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    rows: list[Row] = []
    seeding: dict[str, dict[str, float]] = {}
    warm: list[Load] = []
    if not args.start_only:
        rows, seeding, warm = bench_catalogs(args)
    starts = {name: import_seconds(fn, code, args.runs) for name, (fn, code) in STARTS.items()}
    by_package = {name: import_ms_by_package(fn, code, 12) for name, (fn, code) in STARTS.items()}
    report(rows, seeding, warm, starts, by_package, args)


def bench_catalogs(
    args: argparse.Namespace,
) -> tuple[list[Row], dict[str, dict[str, float]], list[Load]]:
    """The HTTP runs over both catalogs, and the warm handlers over DynamoDB."""
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
        warm = warm_handlers(endpoint, ids, args)
    return rows, seeding, warm


def report(
    rows: list[Row],
    seeding: dict[str, dict[str, float]],
    warm: list[Load],
    imports: dict[str, list[tuple[float, float]]],
    by_package: dict[str, list[tuple[str, float]]],
    args: argparse.Namespace,
) -> None:
    if rows:
        print()
        print(
            f"| backend | datasets | meta cache | req/s ({args.connections} conn.) | p50 ms "
            "| p99 ms | server CPU | client CPU | server CPU ms/req | p50 ms (1 conn.) "
            "| p99 ms (1 conn.) |"
        )
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        t, s = row.throughput, row.latency
        print(
            f"| {row.backend} | {row.datasets:,} | {row.cache} | {t.per_second:,.0f} | "
            f"{t.p50_ms:.1f} | {t.p99_ms:.1f} | {t.server_cpu:.0%} | {t.client_cpu:.0%} | "
            f"{1000 * t.server_cpu / t.per_second:.2f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} |"
        )
    for name, took in seeding.items():
        print(f"seeding {name}: {took['datasets']:,.0f} datasets in {took['seconds']:.1f} s")
    if warm:
        print()
        print(f"warm handlers in-process, DynamoDB on moto, TTL 60 s, {args.sequential} lookups:")
        for name, load in zip(("meta function", "API function"), warm, strict=True):
            print(f"  {name}: p50 {load.p50_ms:.2f} ms, p99 {load.p99_ms:.2f} ms")
    print()
    print(
        f"Start (import + build with the Lambda wiring), median of {args.runs} fresh "
        "interpreters, the template's environment, no AWS endpoint reachable; judged on CPU "
        "time, which is the wall time of an idle machine (importing is CPU-bound):"
    )
    print("| function | CPU ms | wall ms | target | runs, CPU ms |")
    print("|---|---:|---:|---|---|")
    for name, runs in imports.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        target = "none"
        if name.startswith("meta"):
            met = "met" if cpu <= START_TARGET else "NOT met"
            target = f"≤ {1000 * START_TARGET:.0f} ms: {met}"
        each = ", ".join(f"{1000 * r[1]:.0f}" for r in runs)
        print(f"| {name} | {1000 * cpu:.0f} | {1000 * wall:.0f} | {target} | {each} |")
    for name in imports:
        print(
            f"{name}, by package (ms): " + ", ".join(f"{p} {ms:.0f}" for p, ms in by_package[name])
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    result = {
        "load_average": os.getloadavg(),
        "args": vars(args),
        "rows": [asdict(row) | {"requests_per_second": row.throughput.per_second} for row in rows],
        "warm_handlers": {"meta": asdict(warm[0]), "api": asdict(warm[1])} if warm else {},
        "seeding": seeding,
        "import_seconds": imports,
        "import_ms_by_package": by_package,
    }
    (BENCH / "meta_bench.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
