"""Which gzip compressor should the export engine use for its per-gene payloads?

The legacy exporter spends most of its time in single-threaded zlib level 6 over one dense
n_cells vector per gene (research-notes §5.3). This compares, on realistic payloads (quantised
u8 / u16 and raw f32 gene columns of a sparse log-normal matrix, plus a float32 embedding):

* stdlib zlib level 6 (the baseline),
* zlib-ng level 6 with the default strategy and with Z_RLE (plus level 1),
* libdeflate (``deflate`` package) levels 1-6,
* ISA-L (``isal`` package, ``isal_zlib``) levels 0-3,

each on 1 thread and on 2 threads (ThreadPoolExecutor; all four release the GIL), and reports
size, throughput (MB/s of input) and the ratio to zlib 6. Every compressor writes a gzip member
that stdlib zlib can read; a round trip is checked for each.

``deflate`` and ``isal`` are installed into the running interpreter's environment on first use
(they are benchmark-only dependencies, not needed by the package).

Run: ``.venv/bin/python benchmarks/deflate_bench.py [--cells 200000] [--genes 100]``
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from cellucid_cloud.demo.synthetic import make_synthetic

ROOT = Path(__file__).resolve().parents[1]
Compressor = Callable[[bytes], bytes]
BENCH_PACKAGES = {"deflate": "deflate", "isal": "isal"}


def _ensure(module: str) -> ModuleType:
    """Import a benchmark-only package, pip-installing it into this environment if missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        print(f"installing {BENCH_PACKAGES[module]} for the benchmark ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", BENCH_PACKAGES[module]], check=True
        )
        importlib.invalidate_caches()
        return importlib.import_module(module)


def _zlib_like(mod: Any, level: int, strategy: int = 0) -> Compressor:
    def compress(data: bytes) -> bytes:
        obj = mod.compressobj(level, mod.DEFLATED, 31, 8, strategy)
        out: bytes = obj.compress(data) + obj.flush()
        return out

    return compress


def compressors() -> dict[str, Compressor]:
    """All candidates, baseline first; each returns one gzip member."""
    deflate = _ensure("deflate")
    _ensure("isal")
    isal_zlib = importlib.import_module("isal.isal_zlib")
    zlib_ng = importlib.import_module("zlib_ng.zlib_ng")

    out: dict[str, Compressor] = {"zlib 6": _zlib_like(zlib, 6)}
    out["zlib-ng 6"] = _zlib_like(zlib_ng, 6)
    out["zlib-ng 6 Z_RLE"] = _zlib_like(zlib_ng, 6, zlib_ng.Z_RLE)
    out["zlib-ng 1"] = _zlib_like(zlib_ng, 1)
    for level in range(1, 7):
        out[f"libdeflate {level}"] = _libdeflate(deflate, level)
    for level in range(4):
        out[f"isal {level}"] = _isal(isal_zlib, level)
    return out


def _libdeflate(mod: Any, level: int) -> Compressor:
    def compress(data: bytes) -> bytes:
        result: bytes = mod.gzip_compress(data, level)
        return result

    return compress


def _isal(mod: Any, level: int) -> Compressor:
    def compress(data: bytes) -> bytes:
        result: bytes = mod.compress(data, level, wbits=31)
        return result

    return compress


def _quantise(col: NDArray[np.float32], bits: int) -> bytes:
    """DESIGN §3 quantisation (no NaNs here): code = floor((v-min)*maxQ/(max-min) + 1e-8)."""
    max_q = 254 if bits == 8 else 65534
    lo, hi = float(col.min()), float(col.max())
    if hi == lo:
        codes = np.zeros(col.shape, dtype=np.float64)
    else:
        codes = np.floor((col.astype(np.float64) - lo) * max_q / (hi - lo) + 1e-8)
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.clip(codes, 0, max_q).astype(dtype).astype(f"<{np.dtype(dtype).str[1:]}").tobytes()


def payloads(n_cells: int, n_genes: int, seed: int) -> dict[str, list[bytes]]:
    """Dense per-gene columns exactly as an export writes them, plus one embedding file."""
    total_genes = max(n_genes * 20, 200)
    adata = make_synthetic(n_cells, total_genes, seed=seed, with_knn=False)
    matrix: Any = adata.X
    picked = sp.csr_matrix(matrix)[:, :: total_genes // n_genes][:, :n_genes]
    x = picked.toarray().astype(np.float32)
    cols = [np.ascontiguousarray(x[:, j]) for j in range(x.shape[1])]
    emb = np.asarray(adata.obsm["X_umap"], dtype=np.float32)
    centre = (emb.min(axis=0) + emb.max(axis=0)) / 2
    scale = 2.0 / float((emb.max(axis=0) - emb.min(axis=0)).max())
    emb_norm = ((emb - centre) * scale).astype("<f4")
    return {
        "gene u8": [_quantise(c, 8) for c in cols],
        "gene u16": [_quantise(c, 16) for c in cols],
        "gene f32": [c.astype("<f4").tobytes() for c in cols],
        "embedding f32 (n,2)": [emb_norm.tobytes()],
    }


def _run(fn: Compressor, items: list[bytes], threads: int) -> tuple[float, int]:
    start = time.perf_counter()
    if threads == 1:
        outs = [fn(b) for b in items]
    else:
        with ThreadPoolExecutor(threads) as pool:
            outs = list(pool.map(fn, items))
    return time.perf_counter() - start, sum(len(o) for o in outs)


def measure(
    kinds: dict[str, list[bytes]], comps: dict[str, Compressor], repeats: int
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for kind, items in kinds.items():
        n_in = sum(len(b) for b in items)
        base: dict[str, Any] | None = None
        for name, fn in comps.items():
            sample = fn(items[0])
            if zlib.decompress(sample, 31) != items[0]:
                raise RuntimeError(f"{name} does not round-trip through stdlib zlib")
            row: dict[str, Any] = {"payload": kind, "compressor": name, "input_bytes": n_in}
            for threads in (1, 2):
                best = min(_run(fn, items, threads) for _ in range(repeats))
                row[f"seconds_{threads}t"] = best[0]
                row[f"mb_s_{threads}t"] = n_in / best[0] / 1e6
                row["output_bytes"] = best[1]
            base = base or row
            row["size_vs_zlib6"] = row["output_bytes"] / base["output_bytes"]
            row["speed_vs_zlib6_1t"] = base["seconds_1t"] / row["seconds_1t"]
            rows.append(row)
            print(
                f"{kind:<20} {name:<16} {row['output_bytes']:>12,} "
                f"{row['size_vs_zlib6']:>6.3f} {row['mb_s_1t']:>8.1f} {row['mb_s_2t']:>8.1f} "
                f"{row['speed_vs_zlib6_1t']:>6.1f}x",
                flush=True,
            )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200_000)
    parser.add_argument("--genes", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1, help="best of N timings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / ".bench")
    args = parser.parse_args(argv)

    comps = compressors()
    t0 = time.perf_counter()
    kinds = payloads(args.cells, args.genes, args.seed)
    print(f"payloads built in {time.perf_counter() - t0:.1f} s", flush=True)
    print(
        f"{'payload':<20} {'compressor':<16} {'bytes':>12} {'size/z6':>6} "
        f"{'MB/s 1t':>8} {'MB/s 2t':>8} {'speed/z6':>7}"
    )
    rows = measure(kinds, comps, args.repeats)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"deflate-{args.cells}x{args.genes}.json"
    meta = {"cells": args.cells, "genes": args.genes, "python": sys.version.split()[0]}
    target.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"results: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
