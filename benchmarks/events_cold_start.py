"""Events function cold start: FastAPI behind Mangum vs Powertools' HTTP API resolver, by
hand (the deployed routes) or with Powertools' own validation (``enable_validation``).

The variants serve the same events routes over the same service. Each run is a fresh
interpreter that imports and builds one variant and answers its first request (a long poll
whose ``wait`` is out of bounds: the 422 comes from validation, so no AWS call is made); it
reports the time from before its first import to the built app and to the first answer, and
the CPU time to the first answer (steadier than wall time on a shared machine); the parent
also times the whole process (interpreter start-up included). All first import what
any function needs anyway (Powertools' Logger, Metrics, Tracer and parameters, boto3, the
events service, its stores): that part alone is measured as "common". Runs are interleaved,
after one warm-up run each (bytecode written, page cache warm), and the medians reported.

``powertools-validation`` declares the eight routes with Powertools' ``Query``/``Body``
annotations and lets the resolver validate them (its OpenAPI models and validation
middleware): the design of issue 14's "Powertools' resolver with enable_validation for both".

    .venv/bin/python benchmarks/events_cold_start.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".bench" / "events_cold_start.json"

COMMON = """
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parameters import get_secret
import boto3
from cellucid_cloud.api.auth import Authenticator
from cellucid_cloud.events.dynamodb_store import DynamoDbEventStore
from cellucid_cloud.events.service import EventsService
from cellucid_cloud.storage.s3 import S3UploadUrls
from cellucid_cloud.storage.s3_blobs import S3BlobStore
"""

FIRST_REQUEST = """
import json
first = json.load(open("events/events/get-events.json"))
first["rawQueryString"] = first["rawQueryString"].replace("wait=2", "wait=26")
first["queryStringParameters"]["wait"] = "26"
"""

VALIDATED = """
from typing import Annotated
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from cellucid_cloud.events.service import MAX_BUNDLE_BYTES, MAX_WAIT, ViewerRequest
Param = Annotated[str | None, Query(max_length=200)]
app = APIGatewayHttpResolver(enable_validation=True)
@app.post("/_cellucid/viewers")
def register(body: Annotated[ViewerRequest, Body()]) -> dict: ...
@app.post("/_cellucid/events")
def post_event() -> dict: ...
@app.post("/_cellucid/selection")
def selection(viewerId: Param = None, viewerToken: Param = None, source: Param = None) -> dict: ...
@app.post("/_cellucid/session_bundle")
def bundle(viewerId: Param = None, viewerToken: Param = None, requestId: Param = None) -> dict: ...
@app.post("/_cellucid/session_bundle/upload-url")
def upload_url(
    viewerId: Param = None, viewerToken: Param = None, requestId: Param = None,
    size: Annotated[int | None, Query(ge=1, le=MAX_BUNDLE_BYTES)] = None,
) -> dict: ...
@app.get("/_cellucid/events")
def follow(
    viewerId: Param = None, viewerToken: Param = None,
    after: Annotated[str, Query(max_length=18, pattern="^[0-9]+$")] = "0",
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0.0,
) -> dict: ...
@app.get("/_cellucid/session_bundles")
def bundles(viewerId: Param = None, viewerToken: Param = None) -> dict: ...
@app.get("/_cellucid/session_bundles/<request_id>")
def get_bundle(request_id: str, viewerId: Param = None, viewerToken: Param = None) -> dict: ...
"""

VARIANTS = {
    "common": COMMON + "answer = None\n",
    "fastapi": COMMON
    + """
from typing import Any, cast
from fastapi import FastAPI
from mangum import Mangum
from cellucid_cloud.api.events_http import EventsHttp
from cellucid_cloud.api.events_routes import events_router
app = FastAPI()
app.include_router(events_router(EventsHttp(cast(EventsService, None), cast(Any, None), None)))
handler = Mangum(app, lifespan="off")
answer = lambda: handler(first, cast(Any, None))
""",
    "powertools": COMMON
    + """
from typing import Any, cast
from cellucid_cloud.aws.events import events_resolver
app = events_resolver(cast(EventsService, None), cast(Any, None), cast(S3UploadUrls, None))
answer = lambda: app.resolve(first, cast(Any, None))
""",
    "powertools-validation": COMMON
    + VALIDATED
    + """
from typing import Any, cast
answer = lambda: app.resolve(first, cast(Any, None))
""",
}


def run(code: str) -> tuple[float, float, float, float]:
    """(seconds from the first import to the built app, to its first answer, CPU seconds to
    the first answer, seconds of the whole process)."""
    script = (
        "import time\nt0, c0 = time.perf_counter(), time.process_time()\n"
        f"{code}\nbuilt = time.perf_counter() - t0\n"
        f"{FIRST_REQUEST}\nt1 = time.perf_counter()\n"
        "status = answer()['statusCode'] if answer else 0\n"
        "answered, cpu = time.perf_counter() - t1, time.process_time() - c0\n"
        "print(built, built + answered, cpu, status)\n"
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_DEFAULT_REGION": "us-east-1"}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    built, answered, cpu, status = result.stdout.split()
    assert status in {"0", "422"}, result.stdout
    return float(built), float(answered), float(cpu), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    for code in VARIANTS.values():
        run(code)
    times: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in VARIANTS}
    for _ in range(args.runs):
        for name, code in VARIANTS.items():
            times[name].append(run(code))
    summary = {
        name: {
            "import_and_build_ms": statistics.median(t[0] for t in runs) * 1000,
            "min_ms": min(t[0] for t in runs) * 1000,
            "max_ms": max(t[0] for t in runs) * 1000,
            "first_answer_ms": statistics.median(t[1] for t in runs) * 1000,
            "first_answer_cpu_ms": statistics.median(t[2] for t in runs) * 1000,
            "process_ms": statistics.median(t[3] for t in runs) * 1000,
        }
        for name, runs in times.items()
    }
    common = summary["common"]
    print(f"{args.runs} runs each, medians\n")
    print(
        "| variant | import + build ms | min–max ms | beyond common ms | first answer ms "
        "| first answer CPU ms | beyond common CPU ms | whole process ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, s in summary.items():
        extra, extra_cpu = (
            ("", "")
            if name == "common"
            else (
                f"{s['import_and_build_ms'] - common['import_and_build_ms']:.0f}",
                f"{s['first_answer_cpu_ms'] - common['first_answer_cpu_ms']:.0f}",
            )
        )
        print(
            f"| {name} | {s['import_and_build_ms']:.0f} | {s['min_ms']:.0f}–{s['max_ms']:.0f} "
            f"| {extra} | {s['first_answer_ms']:.0f} | {s['first_answer_cpu_ms']:.0f} "
            f"| {extra_cpu} | {s['process_ms']:.0f} |"
        )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"runs": args.runs, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
