"""Sustained load on one ``cellucid-cloud up``: meta lookups and viewer events at once, with
zero errors.

Starts ``up`` (a real process: SQLite catalog and event store, meta cache TTL 60 s) on a free
loopback port, publishes a small dataset and registers a viewer (as ``events_bench.py`` does),
warms the meta cache, then for ``--seconds`` (60 by default) runs two kinds of keep-alive
clients concurrently:

* meta clients: ``GET /dp/v1/datasets/meta`` (and the RFC's ``/dp/v1/meta/datasets``) for the
  published dataset's explorer URL in several spellings; every answer must be 200 and name the
  dataset;
* event clients: ``POST /_cellucid/events`` hover events; every answer must be 200, and after
  the run every acknowledged event must read back, each client's in order.

``--meta-rate``/``--events-rate`` pace each kind to a total number of requests per second
(spread over its clients; 0 = as fast as answers allow, the default). Prints the achieved rates,
p50/p99/max latencies, the errors (must be 0), the server's CPU use and the load average before
and after (the machine is shared). Exits 1 on any error, loss or reordering. Results also go to
``.bench/load_bench.json``.

Run: ``.venv/bin/python benchmarks/load_bench.py [--seconds 60] [--meta-clients 4]
[--event-clients 2] [--meta-rate 0] [--events-rate 0]``
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import psutil

from events_bench import read_back, start_up, viewer_credentials

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Kind:
    """One kind of client: its latencies (seconds) and errors, per client."""

    name: str
    clients: int
    rate: float
    latencies: list[list[float]] = field(default_factory=list)
    errors: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.latencies = [[] for _ in range(self.clients)]
        self.errors = [[] for _ in range(self.clients)]

    def summary(self, seconds: float) -> dict[str, Any]:
        flat = np.array([x for per in self.latencies for x in per]) * 1000
        errors = [e for per in self.errors for e in per]
        p50, p99 = np.percentile(flat, [50, 99]) if flat.size else (float("nan"),) * 2
        return {
            "clients": self.clients,
            "target_rate": self.rate or None,
            "ok": int(flat.size),
            "rate": flat.size / seconds,
            "p50_ms": float(p50),
            "p99_ms": float(p99),
            "max_ms": float(flat.max()) if flat.size else None,
            "errors": len(errors),
            "first_errors": errors[:5],
        }


def run_client(
    kind: Kind,
    index: int,
    base: str,
    stop_at: float,
    request: Callable[[httpx.Client, int], str | None],
) -> None:
    """Call ``request`` (which returns an error message or None) until ``stop_at``, paced to
    this client's share of the kind's rate."""
    interval = kind.clients / kind.rate if kind.rate else 0.0
    next_at = time.monotonic()
    n = 0
    with httpx.Client(base_url=base, timeout=30) as http:
        while (now := time.monotonic()) < stop_at:
            if interval:
                if now < next_at:
                    time.sleep(next_at - now)
                next_at += interval
            start = time.perf_counter()
            try:
                error = request(http, n)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            if error is None:
                kind.latencies[index].append(time.perf_counter() - start)
                n += 1
            else:
                kind.errors[index].append(error)


def meta_request(base: str, dataset_id: str) -> Callable[[httpx.Client, int], str | None]:
    """Lookups of one published dataset by the URL spellings a viewer or portal sends."""
    spellings = [
        ("/dp/v1/datasets/meta", f"{base}/e/{dataset_id}/"),
        ("/dp/v1/datasets/meta", f"/e/{dataset_id}"),
        ("/dp/v1/meta/datasets", f"https://cellxgene.example/e/{dataset_id}.cxg/"),
        ("/dp/v1/meta/datasets", dataset_id),
    ]

    def request(http: httpx.Client, n: int) -> str | None:
        path, url = spellings[n % len(spellings)]
        reply = http.get(f"{path}?url={quote(url, safe='')}")
        if reply.status_code != 200:
            return f"{reply.status_code} {reply.text[:200]}"
        if reply.json().get("dataset_id") != dataset_id:
            return f"wrong answer {reply.text[:200]}"
        return None

    return request


def event_request(creds: dict[str, str], client: int) -> Callable[[httpx.Client, int], str | None]:
    def request(http: httpx.Client, n: int) -> str | None:
        event = {"type": "hover", "cell": n, "position": {"x": client, "y": n, "z": 0}, **creds}
        reply = http.post("/_cellucid/events", json=event)
        return None if reply.status_code == 200 else f"{reply.status_code} {reply.text[:200]}"

    return request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--meta-clients", type=int, default=4)
    parser.add_argument("--event-clients", type=int, default=2)
    parser.add_argument("--meta-rate", type=float, default=0.0, help="requests/s, 0 = unpaced")
    parser.add_argument("--events-rate", type=float, default=0.0, help="requests/s, 0 = unpaced")
    args = parser.parse_args()
    meta = Kind("meta", args.meta_clients, args.meta_rate)
    events = Kind("events", args.event_clients, args.events_rate)
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
        work = Path(tmp)
        process, base = start_up(work / "data")
        try:
            creds = viewer_credentials(base, work / "data", work)
            dataset_id = httpx.get(f"{base}/datasets.json").json()["datasets"][0]["id"]
            with httpx.Client(base_url=base) as warm:  # one lookup per cache key
                assert meta_request(base, dataset_id)(warm, 0) is None
            server = psutil.Process(process.pid)
            cpu_before = sum(server.cpu_times()[:2])
            load_before = os.getloadavg()
            stop_at = time.monotonic() + args.seconds
            threads = [
                threading.Thread(
                    target=run_client, args=(meta, i, base, stop_at, meta_request(base, dataset_id))
                )
                for i in range(meta.clients)
            ] + [
                threading.Thread(
                    target=run_client, args=(events, i, base, stop_at, event_request(creds, i))
                )
                for i in range(events.clients)
            ]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - began
            server_cpu = sum(server.cpu_times()[:2]) - cpu_before
            load_after = os.getloadavg()
            stored = read_back(base, creds)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
    sent = [len(per) for per in events.latencies]
    in_order = all(
        [e["cell"] for e in stored if e["position"]["x"] == i] == list(range(n))
        for i, n in enumerate(sent)
    )
    results: dict[str, Any] = {
        "seconds": elapsed,
        "cores": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "server_cpu_per_second": server_cpu / elapsed,
        "meta": meta.summary(elapsed),
        "events": {**events.summary(elapsed), "stored": len(stored), "in_order": in_order},
    }
    (ROOT / ".bench").mkdir(exist_ok=True)
    (ROOT / ".bench" / "load_bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"load bench: {elapsed:.1f} s on one `up` (SQLite), {os.cpu_count()} cores")
    before, after = (" ".join(f"{x:.2f}" for x in load) for load in (load_before, load_after))
    print(f"  load average before {before}, after {after}")
    print(f"  server CPU {server_cpu / elapsed:.2f} cores")
    for name in ("meta", "events"):
        r = results[name]
        target = f" (target {r['target_rate']:.0f}/s)" if r["target_rate"] else ""
        print(
            f"  {name:<6} {r['clients']} clients{target}: {r['ok']:>8,} ok "
            f"({r['rate']:,.0f}/s), errors {r['errors']}, "
            f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, max {r['max_ms']:.1f} ms"
        )
    print(f"  events stored {len(stored):,} of {sum(sent):,} acknowledged, in order: {in_order}")
    failed = meta.summary(elapsed)["errors"] or events.summary(elapsed)["errors"]
    if failed or len(stored) != sum(sent) or not in_order:
        for name in ("meta", "events"):
            for error in results[name]["first_errors"]:
                print(f"  {name} error: {error}")
        raise SystemExit("errors, lost or reordered events under load")


if __name__ == "__main__":
    main()
