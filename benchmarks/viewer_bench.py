"""Time to first frame of the hosted viewer on a 1,000,000-cell dataset, in headless chromium.

The whole path a visitor takes, on this machine: ``cellucid-cloud up`` serves the catalog, the
export and the viewer; the dataset is published the way a curator publishes one (a collection
and a dataset through the curation API, the ``.h5ad`` dropped into the uploads folder, prepared
by the worker with the hosted defaults, then published). The input is the synthetic PBMC-like
AnnData of ``cellucid_cloud.demo.synthetic`` (default 1M cells x 2,000 genes at 10 %, the same
file ``prepare_bench.py`` uses), generated once into ``.bench/``; the published stack is kept
in ``.bench/viewer-<cells>/`` and reused by later runs.

Each run opens the dataset's explorer URL in a fresh browser context (empty HTTP cache) and
reads the viewer's own marks (milliseconds since navigation start):

* positions: the default embedding downloaded, inflated and decoded (in the worker);
* first frame: every cell drawn (positions uploaded, one draw call, GPU finished);
* coloured: the default categorical colouring drawn;
* ready: the page is interactive (the ``ready`` event would be sent).

It then zooms continuously for ZOOM_STEPS animation frames and reports the frame interval. Chromium
renders with SwiftShader (WebGL2 on the CPU) here, so frame times are far above what a GPU
gives; time to first frame is dominated by download, gunzip and upload, not by drawing.
Nothing is asserted: the figures are printed and written to ``.bench/viewer-<cells>.json``.

Run: ``.venv/bin/python benchmarks/viewer_bench.py [--cells 1000000] [--genes 2000] [--runs 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import ViewportSize, sync_playwright

from cellucid_cloud.demo.synthetic import write_synthetic_h5ad

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / ".bench"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
ZOOM_STEPS = 12

# Zooms a little on every animation frame; resolves with the intervals between frames.
ZOOM_FRAMES = """(frames) => new Promise((resolve) => {
  const canvas = document.querySelector("#plot");
  const box = canvas.getBoundingClientRect();
  const intervals = [];
  let last = null;
  const step = (now) => {
    if (last !== null) intervals.push(now - last);
    last = now;
    if (intervals.length >= frames) return resolve(intervals);
    canvas.dispatchEvent(new WheelEvent("wheel", {
      deltaY: -15, clientX: box.left + box.width / 2, clientY: box.top + box.height / 2,
      bubbles: true, cancelable: true,
    }));
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
})"""


def ensure_input(cells: int, genes: int, density: float, seed: int) -> Path:
    path = BENCH / f"synthetic-{cells}x{genes}-d{density:g}-s{seed}.h5ad"
    if not path.exists():
        print(f"generating {path.name} ...", flush=True)
        write_synthetic_h5ad(path, cells, genes, density=density, seed=seed, with_knn=False)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_up(data_dir: Path) -> Iterator[str]:
    port = _free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir.parent / "up.log").open("ab")
    command = [sys.executable, "-m", "cellucid_cloud.cli", "up", "--data-dir", str(data_dir)]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"up exited; see {data_dir.parent / 'up.log'}")
            try:
                if httpx.get(f"{base}/_cellucid/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("up did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def published_dataset(base: str, data_dir: Path, h5ad: Path) -> str:
    """The dataset id of the published benchmark dataset, publishing it on the first run."""
    state_file = data_dir.parent / "state.json"
    if state_file.exists():
        dataset_id = str(json.loads(state_file.read_text())["dataset_id"])
        answer = httpx.get(f"{base}/dp/v1/datasets/meta", params={"url": f"/e/{dataset_id}/"})
        if answer.status_code == 200 and answer.json().get("export_url"):
            return dataset_id
    key = (data_dir / "curator.key").read_text().strip()
    token = httpx.post(f"{base}/curation/v1/auth/token", headers={"x-api-key": key})
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    with httpx.Client(base_url=f"{base}/curation/v1", headers=headers, timeout=60) as curator:
        collection = curator.post(
            "/collections",
            json={
                "name": "Viewer benchmark",
                "description": "synthetic",
                "contact_name": "Benchmark",
                "contact_email": "bench@example.org",
            },
        )
        collection.raise_for_status()
        cid = collection.json()["collection_id"]
        dataset = curator.post(f"/collections/{cid}/datasets", json={"name": h5ad.stem})
        dataset.raise_for_status()
        dataset_id = str(dataset.json()["dataset_id"])
        drop = data_dir / "uploads" / cid / f"{dataset_id}.h5ad"
        drop.parent.mkdir(parents=True, exist_ok=True)
        os.link(h5ad, drop)
        print("preparing the export in up's worker ...", flush=True)
        start = time.perf_counter()
        while True:
            status = curator.get(f"/collections/{cid}/datasets/{dataset_id}").json()
            if status["status"] == "ready":
                break
            if status["status"] == "failed":
                raise SystemExit(f"prepare failed: {status['reason']}")
            time.sleep(1)
        print(f"  ready after {time.perf_counter() - start:.0f} s", flush=True)
        curator.post(f"/collections/{cid}/publish").raise_for_status()
    state_file.write_text(json.dumps({"dataset_id": dataset_id}))
    return dataset_id


def measure(url: str, runs: int) -> list[dict[str, Any]]:
    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        for run in range(runs):
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            page.goto(url)
            page.wait_for_selector("body[data-state=ready]", timeout=600_000)
            marks = page.evaluate(
                """() => ({
                  positions_ms: performance.getEntriesByName("cellucid:positions")[0].startTime,
                  first_frame_ms: Number(document.body.dataset.firstFrameMs),
                  coloured_ms: Number(document.body.dataset.coloredMs),
                  ready_ms: performance.getEntriesByName("cellucid:ready")[0].startTime,
                  embedding: document.body.dataset.embedding,
                  moving_frame_cells: Number(document.body.dataset.subsetCells),
                })"""
            )
            intervals = page.evaluate(ZOOM_FRAMES, ZOOM_STEPS)
            marks["zoom_frame_ms_median"] = statistics.median(intervals)
            print(f"  run {run + 1}: {marks}", flush=True)
            results.append(marks)
            context.close()
        browser.close()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--density", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    h5ad = ensure_input(args.cells, args.genes, args.density, seed=0)
    data_dir = BENCH / f"viewer-{args.cells}" / "data"
    report: dict[str, Any] = {"cells": args.cells, "genes": args.genes}
    with running_up(data_dir) as base:
        dataset_id = published_dataset(base, data_dir, h5ad)
        meta = httpx.get(f"{base}/dp/v1/datasets/meta", params={"url": f"/e/{dataset_id}/"})
        export = data_dir / "exports" / meta.json()["dataset_version_id"]
        report["export_bytes"] = {
            p.relative_to(export).as_posix(): p.stat().st_size
            for p in sorted(export.rglob("*"))
            if p.is_file() and not p.relative_to(export).as_posix().startswith("var/")
        }
        for embedding in ("default", "X_umap"):
            query = "" if embedding == "default" else f"?embedding={embedding}"
            print(f"{embedding} embedding:", flush=True)
            report[embedding] = measure(f"{base}/e/{dataset_id}/{query}", args.runs)
    for embedding in ("default", "X_umap"):
        runs = report[embedding]
        print(
            f"{args.cells:,} cells, {runs[0]['embedding']}: time to first frame "
            f"{statistics.median(r['first_frame_ms'] for r in runs):.0f} ms (median of "
            f"{len(runs)}), coloured {statistics.median(r['coloured_ms'] for r in runs):.0f} ms, "
            f"zoom frame {statistics.median(r['zoom_frame_ms_median'] for r in runs):.0f} ms"
        )
    (BENCH / f"viewer-{args.cells}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
