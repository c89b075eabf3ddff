"""The pre-0.7 (legacy) input path: its time and peak memory beside anndata's own read.

The input (default 100,000 cells x 2,000 genes, 10 % dense float32 CSR, a 15-neighbour graph)
is ``cellucid_cloud.demo.synthetic`` written once into ``.bench/`` in the layout anndata wrote
before 0.7 (tests/legacy_files.py: compound obs/var/obsm, categories in uns, X and the graph as
h5sparse groups, the graph under uns['neighbors']), and once more in the current layout.
Each command runs in a fresh process measured like benchmarks/prepare_bench.py (wall time,
peak RSS of the process, sampled RSS of its process tree):

* ``prepare legacy``: ``cellucid-cloud prepare LEGACY OUT`` with the hosted defaults;
* ``anndata read legacy``: ``anndata.read_h5ad(LEGACY)``, what the reference (and any tool
  built on anndata) pays before it can start exporting;
* ``prepare current`` and ``anndata read current``: the same data in the current layout,
  for comparison.

Run: ``.venv/bin/python benchmarks/legacy_bench.py [--cells N] [--genes G]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.legacy_files import write_legacy_h5ad  # noqa: E402

from cellucid_cloud.demo.synthetic import make_synthetic  # noqa: E402
from prepare_bench import BENCH, measure  # noqa: E402


def ensure_inputs(cells: int, genes: int, density: float) -> tuple[Path, Path]:
    """(legacy, current) files of the same synthetic data, generated once per size."""
    stem = f"legacy-input-{cells}x{genes}-d{density:g}"
    legacy, current = BENCH / f"{stem}-legacy.h5ad", BENCH / f"{stem}-current.h5ad"
    if not (legacy.exists() and current.exists()):
        print(f"generating {stem} ...", flush=True)
        start = time.perf_counter()
        adata = make_synthetic(cells, genes, density=density, seed=0, with_knn=True)
        for column in adata.obs.columns:  # anndata 0.6 stored strings as categories
            if pd.api.types.is_string_dtype(adata.obs[column].dtype):
                adata.obs[column] = adata.obs[column].astype("category")
        del adata.obsp["distances"]
        adata.uns.clear()
        write_legacy_h5ad(adata, BENCH / f".{stem}.tmp", x_format="csr")
        os.replace(BENCH / f".{stem}.tmp", legacy)
        adata.write_h5ad(BENCH / f".{stem}.tmp", compression=None)
        os.replace(BENCH / f".{stem}.tmp", current)
        print(f"  {time.perf_counter() - start:.1f} s", flush=True)
    return legacy, current


def prepare_command(src: Path, out: Path) -> list[str]:
    return [str(Path(sys.executable).parent / "cellucid-cloud"), "prepare", str(src), str(out)]


def read_command(src: Path) -> list[str]:
    script = "import sys, anndata; a = anndata.read_h5ad(sys.argv[1]); print(a.shape)"
    return [sys.executable, "-W", "ignore", "-c", script, str(src)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--genes", type=int, default=2_000)
    parser.add_argument("--density", type=float, default=0.1)
    args = parser.parse_args(argv)
    BENCH.mkdir(parents=True, exist_ok=True)
    legacy, current = ensure_inputs(args.cells, args.genes, args.density)
    out = BENCH / f"out-legacy-{args.cells}"
    runs = {
        "prepare legacy": (prepare_command(legacy, out), legacy),
        "anndata read legacy": (read_command(legacy), legacy),
        "prepare current": (prepare_command(current, out), current),
        "anndata read current": (read_command(current), current),
    }
    results: dict[str, dict[str, Any]] = {}
    for label, (command, src) in runs.items():
        results[label] = measure(label, command, src, out)
    shutil.rmtree(out, ignore_errors=True)
    print(f"\n{'':<22} {'wall s':>8} {'RSS MiB':>9} {'tree MiB':>9}")
    for label, result in results.items():
        print(
            f"{label:<22} {result['wall_s']:>8.2f} {result['peak_rss_kib'] / 1024:>9.0f} "
            f"{result['peak_tree_rss_sampled_kib'] / 1024:>9.0f}  rc={result['rc']}"
        )
    summary = {
        "cells": args.cells,
        "genes": args.genes,
        "density": args.density,
        "inputs": {str(p): p.stat().st_size for p in (legacy, current)},
        "load_average": os.getloadavg(),
        "results": results,
    }
    target = BENCH / f"legacy-results-{args.cells}.json"
    target.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nresults: {target}")
    return 0 if all(r["rc"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
