"""Events at the highest rate this machine sustains, through real HTTP, with nothing lost.

Starts ``cellucid-cloud up`` (a real process, SQLite event store) on a free loopback port,
publishes a tiny dataset, registers a viewer, then posts ``hover`` events from several
keep-alive clients as fast as each answer allows for ``--seconds`` (30 by default). Afterwards
it reads every event back through ``GET /_cellucid/events`` and checks that the number stored
equals the number acknowledged and that each client's events kept their order. Prints the rate
and the p50/p99 latency of a POST.

Run: ``.venv/bin/python benchmarks/events_bench.py [--seconds 30] [--clients 4]``
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from cellucid_cloud.client import CurationClient
from cellucid_cloud.demo.synthetic import make_synthetic


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_up(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cellucid_cloud.cli",
            "up",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/_cellucid/health", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("up did not start")


def viewer_credentials(base: str, data_dir: Path, work: Path) -> dict[str, str]:
    h5ad = work / "tiny.h5ad"
    make_synthetic(n_cells=2000, n_genes=50, seed=1).write_h5ad(h5ad)
    key = (data_dir / "curator.key").read_text().strip()
    with CurationClient(base, key) as curator:
        cid = curator.create_collection(
            name="bench", contact_name="Bench", contact_email="bench@example.org"
        )
        dataset_id = curator.create_dataset(cid)
        curator.upload(cid, dataset_id, h5ad)
        curator.wait_until_processed(cid, dataset_id, poll=0.2)
        curator.publish(cid)
        reg = curator.register_viewer(dataset_id)
    return {"viewerId": reg["viewerId"], "viewerToken": reg["viewerToken"]}


def load(base: str, creds: dict[str, str], seconds: float, clients: int) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop_at = time.monotonic() + seconds

    def client(index: int) -> None:
        with httpx.Client(base_url=base, timeout=10) as http:
            n = 0
            while time.monotonic() < stop_at:
                event = {
                    "type": "hover",
                    "cell": n,
                    "position": {"x": index, "y": n, "z": 0},
                    **creds,
                }
                start = time.perf_counter()
                reply = http.post("/_cellucid/events", json=event)
                latencies[index].append(time.perf_counter() - start)
                if reply.status_code == 200:
                    n += 1
                else:
                    errors[index] += 1
                    latencies[index].pop()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    flat = np.array([x for per in latencies for x in per])
    sent = [len(per) for per in latencies]
    return {"sent": sent, "errors": sum(errors), "elapsed": elapsed, "latencies": flat}


def read_back(base: str, creds: dict[str, str]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    cursor = "0"
    with httpx.Client(base_url=base, timeout=30) as http:
        while True:
            page = http.get("/_cellucid/events", params={**creds, "after": cursor}).json()
            if not page["events"]:
                return events
            events += page["events"]
            cursor = page["cursor"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="events-bench-") as tmp:
        work = Path(tmp)
        process, base = start_up(work / "data")
        try:
            creds = viewer_credentials(base, work / "data", work)
            result = load(base, creds, args.seconds, args.clients)
            stored = read_back(base, creds)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
    sent = sum(result["sent"])
    in_order = all(
        [e["cell"] for e in stored if e["position"]["x"] == i] == list(range(n))
        for i, n in enumerate(result["sent"])
    )
    lat = result["latencies"] * 1000
    print(f"events bench: {args.clients} clients, {result['elapsed']:.1f} s, SQLite store (up)")
    print(f"  acknowledged   {sent:>10,}   ({sent / result['elapsed']:,.0f} events/s)")
    print(
        f"  stored         {len(stored):>10,}   lost: {sent - len(stored)}, "
        f"errors: {result['errors']}, per-client order kept: {in_order}"
    )
    p50, p99 = np.percentile(lat, [50, 99])
    print(f"  POST latency   p50 {p50:.2f} ms   p99 {p99:.2f} ms   max {lat.max():.1f} ms")
    if len(stored) != sent or not in_order or result["errors"]:
        raise SystemExit("events were lost, reordered or refused")


if __name__ == "__main__":
    main()
