"""Events function cold start: FastAPI behind Mangum vs Powertools' HTTP API resolver.

Both variants serve the same events routes over the same service. Each run is a fresh
interpreter that imports and builds one variant and reports the time from before its first
import to the built app; the parent also times the whole process (interpreter start-up
included). Both first import what either function needs anyway (Powertools' Logger, Metrics,
Tracer and parameters, boto3, the events service, its stores): that part alone is measured
as "common". Runs are interleaved, after one warm-up run each (bytecode written, page cache
warm), and the medians reported.

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

VARIANTS = {
    "common": COMMON,
    "fastapi": COMMON
    + """
from typing import cast
from fastapi import FastAPI
from mangum import Mangum
from cellucid_cloud.api.context import ApiContext
from cellucid_cloud.api.events_routes import events_router
app = FastAPI()
app.include_router(events_router(cast(ApiContext, None), cast(EventsService, None)))
handler = Mangum(app, lifespan="off")
""",
    "powertools": COMMON
    + """
from typing import Any, cast
from cellucid_cloud.aws.events import events_resolver
app = events_resolver(cast(EventsService, None), cast(Any, None), cast(S3UploadUrls, None))
""",
}


def run(code: str) -> tuple[float, float]:
    """(seconds from the first import to the built app, seconds of the whole process)."""
    script = f"import time\nt0 = time.perf_counter()\n{code}\nprint(time.perf_counter() - t0)\n"
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
    return float(result.stdout.strip()), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    for code in VARIANTS.values():
        run(code)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
    for _ in range(args.runs):
        for name, code in VARIANTS.items():
            times[name].append(run(code))
    summary = {
        name: {
            "import_and_build_ms": statistics.median(t[0] for t in runs) * 1000,
            "min_ms": min(t[0] for t in runs) * 1000,
            "max_ms": max(t[0] for t in runs) * 1000,
            "process_ms": statistics.median(t[1] for t in runs) * 1000,
        }
        for name, runs in times.items()
    }
    common = summary["common"]["import_and_build_ms"]
    print(f"{args.runs} runs each, medians\n")
    print("| variant | import + build ms | min–max ms | beyond common ms | whole process ms |")
    print("|---|---:|---:|---:|---:|")
    for name, s in summary.items():
        extra = "" if name == "common" else f"{s['import_and_build_ms'] - common:.0f}"
        print(
            f"| {name} | {s['import_and_build_ms']:.0f} | {s['min_ms']:.0f}–{s['max_ms']:.0f} "
            f"| {extra} | {s['process_ms']:.0f} |"
        )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"runs": args.runs, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
