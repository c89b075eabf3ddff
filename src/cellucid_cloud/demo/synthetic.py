"""Synthetic, PBMC-like AnnData for demos, tests and benchmarks.

Why synthetic: the project must run offline and in CI, so every dataset it shows or measures is
generated here. The data imitates what matters to a viewer export: clustered embeddings, a mix of
categorical and continuous ``obs`` columns, a sparse log-normalised ``X`` with many distinct float
values (so compression is not flattered) and marker genes (so colouring by a gene shows
structure), plus an optional symmetric kNN graph and RNA-velocity-like vectors.

Everything is vectorised numpy; ``X`` is built in row chunks so 1M x 2000 at 10 % density
(~200M non-zeros, ~1.6 GB of CSR) never needs a dense matrix.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.spatial import cKDTree

__all__ = ["CELL_TYPES", "make_synthetic", "write_synthetic_h5ad"]

F32 = NDArray[np.float32]
I64 = NDArray[np.int64]

#: Cluster names, in order; more clusters than names get "Cluster N".
CELL_TYPES: tuple[str, ...] = (
    "CD4 T cell",
    "CD8 T cell",
    "NK cell",
    "B cell",
    "CD14 Monocyte",
    "FCGR3A Monocyte",
    "Dendritic cell",
    "Plasmacytoid DC",
    "Platelet",
    "Regulatory T cell",
    "Plasma cell",
    "MAIT cell",
    "gamma-delta T cell",
    "Erythrocyte",
    "HSPC",
    "Memory B cell",
)

#: Real marker symbols for the first markers of each named cluster (the rest get "SYM####").
_MARKERS: dict[str, tuple[str, ...]] = {
    "CD4 T cell": ("IL7R", "CD3E", "CD4"),
    "CD8 T cell": ("CD8A", "CD8B", "GZMK"),
    "NK cell": ("GNLY", "NKG7", "KLRD1"),
    "B cell": ("MS4A1", "CD79A", "CD19"),
    "CD14 Monocyte": ("CD14", "LYZ", "S100A8"),
    "FCGR3A Monocyte": ("FCGR3A", "MS4A7", "LST1"),
    "Dendritic cell": ("FCER1A", "CST3", "CLEC10A"),
    "Plasmacytoid DC": ("LILRA4", "IL3RA", "CLEC4C"),
    "Platelet": ("PPBP", "PF4", "GP9"),
    "Regulatory T cell": ("FOXP3", "IL2RA", "CTLA4"),
    "Plasma cell": ("JCHAIN", "MZB1", "XBP1"),
    "MAIT cell": ("SLC4A10", "KLRB1", "ZBTB16"),
    "gamma-delta T cell": ("TRDC", "TRGC1", "TRGC2"),
    "Erythrocyte": ("HBB", "HBA1", "HBA2"),
    "HSPC": ("CD34", "PROM1", "SPINK2"),
    "Memory B cell": ("CD27", "AIM2", "TNFRSF13B"),
}

_MITO: tuple[str, ...] = (
    "MT-ND1",
    "MT-ND2",
    "MT-CO1",
    "MT-CO2",
    "MT-ATP8",
    "MT-ATP6",
    "MT-CO3",
    "MT-ND3",
    "MT-ND4L",
    "MT-ND4",
    "MT-ND5",
    "MT-ND6",
    "MT-CYB",
)

_N_PCS = 50
XSink = Callable[[NDArray[np.float32], NDArray[np.int32]], None]
"""Takes X's next rows: their values and column indices."""
_ROW_CHUNK = 16_384


def _cluster_names(n_clusters: int) -> list[str]:
    return [CELL_TYPES[i] if i < len(CELL_TYPES) else f"Cluster {i + 1}" for i in range(n_clusters)]


def _blob_embedding(
    rng: np.random.Generator,
    labels: I64,
    *,
    centres: F32,
    spread: float,
    doublet: NDArray[np.bool_],
    partner: I64,
) -> F32:
    """Clusters as anisotropic Gaussian blobs; doublets sit between their two parents.

    Each cluster gets its own random linear map of standard noise, which gives the elongated,
    differently sized islands a UMAP usually shows.
    """
    n = labels.shape[0]
    k, d = centres.shape
    maps = rng.normal(0.0, spread, size=(k, d, d)).astype(np.float32)
    maps += np.eye(d, dtype=np.float32) * np.float32(spread)
    noise = rng.standard_normal((n, d), dtype=np.float32)
    pos: F32 = np.einsum("nd,nde->ne", noise, maps[labels], optimize=True).astype(np.float32)
    pos += centres[labels]
    mid = 0.5 * (centres[labels[doublet]] + centres[partner[doublet]])
    pos[doublet] = mid + 0.3 * spread * noise[doublet]
    return pos


def _ring_centres(rng: np.random.Generator, k: int, d: int, radius: float) -> F32:
    """Cluster centres spread around a ring/sphere so islands rarely overlap."""
    if d == 2:
        angle = 2 * np.pi * (np.arange(k) + rng.uniform(-0.2, 0.2, k)) / max(k, 1)
        r = radius * rng.uniform(0.55, 1.0, k)
        return np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1).astype(np.float32)
    v = rng.standard_normal((k, d))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return (v * radius * rng.uniform(0.55, 1.0, (k, 1))).astype(np.float32)


def _poisson_lut(lam: float) -> NDArray[np.uint8]:
    """Inverse-CDF table: ``lut[u16]`` is a Poisson(lam) draw (exact to 1/65536 in probability).

    rng.poisson is ~15 M/s here; a 64 KiB table lookup on random uint16 is ~10x faster, which
    matters for the 40 M+ non-zeros of a 200k-cell benchmark matrix.
    """
    ks = np.arange(64)
    log_pmf = ks * np.log(lam) - lam - np.cumsum(np.log(np.maximum(ks, 1)))
    cdf = np.cumsum(np.exp(log_pmf))
    u = (np.arange(65536) + 0.5) / 65536.0
    return np.minimum(np.searchsorted(cdf, u), 255).astype(np.uint8)


def _bernoulli_positions(rng: np.random.Generator, length: int, p: float) -> I64:
    """Sorted positions of successes among ``length`` Bernoulli(p) trials, via geometric gaps.

    Costs O(successes) instead of O(length): 10x less work than a dense random mask at 10 %.
    """
    if p <= 0.0 or length <= 0:
        return np.zeros(0, dtype=np.int64)
    if p >= 1.0:
        return np.arange(length, dtype=np.int64)
    log_q = np.log1p(-p)
    parts: list[I64] = []
    offset = -1
    while offset < length - 1:
        want = int((length - 1 - offset) * p * 1.05) + 64
        u = rng.random(want, dtype=np.float32)
        gaps = (np.log(np.float32(1.0) - u) / np.float32(log_q)).astype(np.int64) + 1
        pos = np.cumsum(gaps) + offset
        cut = int(np.searchsorted(pos, length))
        parts.append(pos[:cut])
        if cut < pos.shape[0]:
            break
        offset = int(pos[-1])
    return np.concatenate(parts)


def _expression(
    rng: np.random.Generator,
    labels: I64,
    *,
    size_factor: F32,
    n_genes: int,
    density: float,
    marker_of: I64,
    n_clusters: int,
    sink: XSink | None = None,
) -> tuple[sp.csr_matrix | None, NDArray[np.float64], I64, NDArray[np.float64]]:
    """Build CSR X in row chunks; also return per-cell totals, detected genes and mito totals.
    With ``sink``, each chunk's values and column indices go there instead (X is None).

    Detection is Bernoulli per (cell, gene): ``density`` everywhere except a cluster's own marker
    genes (a contiguous column block per cluster), which are detected far more often and with
    higher counts; the base rate is lowered so the overall density stays close to ``density``.
    """
    n = labels.shape[0]
    n_marker_cols = int((marker_of >= 0).sum())
    per_cluster = n_marker_cols // max(n_clusters, 1)
    p_marker = min(0.9, max(density, 6.0 * density))
    p_base = density
    if per_cluster and n_genes > per_cluster:
        p_base = (density * n_genes - p_marker * per_cluster) / (n_genes - per_cluster)
        p_base = min(max(p_base, 0.0), 1.0)
    lut2 = _poisson_lut(2.0)
    lut4 = _poisson_lut(4.0)

    first_mito = n_genes - (len(_MITO) if n_genes >= 100 else 0)
    indptr = np.zeros(n + 1, dtype=np.int64)
    data_parts: list[F32] = []
    index_parts: list[NDArray[np.int32]] = []
    totals = np.zeros(n, dtype=np.float64)
    mito = np.zeros(n, dtype=np.float64)
    for start in range(0, n, _ROW_CHUNK):
        stop = min(n, start + _ROW_CHUNK)
        m = stop - start
        lab = labels[start:stop]
        pos = _bernoulli_positions(rng, m * n_genes, p_base)
        counts = lut2[rng.integers(0, 65536, size=pos.shape[0], dtype=np.uint16)]
        bounds = np.searchsorted(pos, np.arange(m + 1, dtype=np.int64) * n_genes)
        rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(bounds))
        cols = pos - rows * n_genes
        if per_cluster:
            # Replace each cell's own marker block by a denser, higher-count draw.
            cand = np.flatnonzero(cols < n_marker_cols)
            drop = cand[marker_of[cols[cand]] == lab[rows[cand]]]
            keep = np.ones(pos.shape[0], dtype=np.bool_)
            keep[drop] = False
            pos, rows, cols, counts = pos[keep], rows[keep], cols[keep], counts[keep]
            hit_r, hit_j = np.nonzero(rng.random((m, per_cluster), dtype=np.float32) < p_marker)
            mcols = lab[hit_r] * per_cluster + hit_j
            u16 = rng.integers(0, 65536, size=(2, hit_r.shape[0]), dtype=np.uint16)
            at = np.searchsorted(pos, hit_r * n_genes + mcols)
            rows = np.insert(rows, at, hit_r)
            cols = np.insert(cols, at, mcols)
            counts = np.insert(counts, at, lut2[u16[0]] + lut4[u16[1]])
        per_row = np.bincount(rows, minlength=m)
        raw = (np.float32(1.0) + counts.astype(np.float32)) * size_factor[start + rows]
        values, columns = np.log1p(raw).astype(np.float32), cols.astype(np.int32)
        if sink is None:
            data_parts.append(values)
            index_parts.append(columns)
        else:
            sink(values, columns)
        indptr[start + 1 : stop + 1] = per_row
        totals[start:stop] = np.bincount(rows, weights=raw, minlength=m)
        in_mito = cols >= first_mito
        mito[start:stop] = np.bincount(rows[in_mito], weights=raw[in_mito], minlength=m)
    np.cumsum(indptr, out=indptr)
    if sink is not None:
        return None, totals, np.diff(indptr), mito
    data = np.concatenate(data_parts) if data_parts else np.zeros(0, np.float32)
    indices = np.concatenate(index_parts) if index_parts else np.zeros(0, np.int32)
    del data_parts, index_parts
    if indptr[-1] < np.iinfo(np.int32).max:
        indptr_out: NDArray[np.integer[Any]] = indptr.astype(np.int32)
    else:
        indptr_out = indptr
    x = sp.csr_matrix((data, indices, indptr_out), shape=(n, n_genes))
    x.has_sorted_indices = True
    detected = np.diff(indptr)
    return x, totals, detected, mito


def _knn_graph(pos: F32, k: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """kNN on the 2-D UMAP with a KD-tree (fast: ~1 s at 200k), UMAP-style fuzzy weights.

    Returns (connectivities, distances). Connectivities are the fuzzy union W + W^T - W*W^T:
    symmetric, zero diagonal, strictly positive stored weights.
    """
    n = pos.shape[0]
    k = min(k, n - 1)
    if k <= 0:
        empty = sp.csr_matrix((n, n), dtype=np.float32)
        return empty, empty.copy()
    tree = cKDTree(pos)
    dist, idx = tree.query(pos, k=k + 1, workers=-1)
    dist = np.asarray(dist, dtype=np.float64).reshape(n, k + 1)
    idx = np.asarray(idx, dtype=np.int64).reshape(n, k + 1)
    # Drop self (or, with duplicate points, the farthest neighbour) so each row keeps k.
    drop = idx == np.arange(n)[:, None]
    no_self = ~drop.any(axis=1)
    drop[no_self, -1] = True
    keep = ~drop
    dist = dist[keep].reshape(n, k)
    idx = idx[keep].reshape(n, k)

    rho = dist[:, :1]
    sigma = np.maximum((dist - rho).mean(axis=1, keepdims=True), 1e-12)
    w = np.exp(-np.maximum(dist - rho, 0.0) / sigma)
    w = np.maximum(w, 1e-6)  # never let a kept edge underflow to a stored zero
    rows = np.repeat(np.arange(n), k)
    directed = sp.csr_matrix((w.ravel(), (rows, idx.ravel())), shape=(n, n))
    transposed = directed.T.tocsr()
    conn = (directed + transposed - directed.multiply(transposed)).tocsr()
    conn.setdiag(0)
    conn.eliminate_zeros()
    conn.sort_indices()
    dist_store = np.maximum(dist.ravel(), np.finfo(np.float32).tiny).astype(np.float32)
    distances = sp.csr_matrix((dist_store, (rows, idx.ravel())), shape=(n, n))
    distances.sort_indices()
    return sp.csr_matrix(conn.astype(np.float32)), distances


def make_synthetic(
    n_cells: int,
    n_genes: int,
    *,
    density: float = 0.1,
    seed: int = 0,
    n_clusters: int = 12,
    with_knn: bool = True,
    with_velocity: bool = False,
    symbols_as_names: bool = False,
    x_sink: XSink | None = None,
) -> ad.AnnData:
    """A PBMC-like AnnData; identical for identical arguments (seeded).

    ``X`` is CSR float32 ``log1p((1 + Poisson(2)) * size_factor)`` at about ``density``, so the
    benchmark matches research-notes §5.1; cluster marker genes add structure on top.
    ``symbols_as_names`` indexes genes by symbol (CD3E...) rather than by id, as a demo
    viewer's gene search expects. ``x_sink`` takes X chunk by chunk (values and column indices,
    rows in order; row lengths are ``obs['n_genes']``) and the AnnData has no X.
    """
    if n_cells <= 0 or n_genes <= 0:
        raise ValueError("n_cells and n_genes must be positive")
    if not 0.0 < density <= 1.0:
        raise ValueError("density must be in (0, 1]")
    if n_clusters <= 0:
        raise ValueError("n_clusters must be positive")
    rng = np.random.default_rng(seed)
    k = n_clusters
    names = _cluster_names(k)

    # Cluster sizes are uneven, like real tissue (a few big populations, several rare ones).
    weights = rng.dirichlet(np.full(k, 1.5))
    weights = 0.9 * weights + 0.1 / k
    labels = rng.choice(k, size=n_cells, p=weights / weights.sum()).astype(np.int64)
    doublet = rng.random(n_cells) < 0.04
    partner = (labels + rng.integers(1, max(k, 2), n_cells)) % k

    # Embeddings derived from the same labels, so every view shows the same populations.
    umap = _blob_embedding(
        rng,
        labels,
        centres=_ring_centres(rng, k, 2, 12.0),
        spread=1.1,
        doublet=doublet,
        partner=partner,
    )
    umap3 = _blob_embedding(
        rng,
        labels,
        centres=_ring_centres(rng, k, 3, 10.0),
        spread=1.0,
        doublet=doublet,
        partner=partner,
    )
    pc_scale = (0.88 ** np.arange(_N_PCS)).astype(np.float32)
    pca_centres = rng.standard_normal((k, _N_PCS)).astype(np.float32) * 8.0 * pc_scale
    pca = rng.standard_normal((n_cells, _N_PCS), dtype=np.float32) * pc_scale
    pca += pca_centres[labels]
    pca[doublet] += 0.5 * (pca_centres[partner[doublet]] - pca_centres[labels[doublet]])

    # Samples nest in batches: sample s belongs to batch s % 4.
    n_samples = 120
    sample = rng.integers(0, n_samples, n_cells)
    batch = sample % 4
    pca[:, :3] += (batch[:, None] - 1.5).astype(np.float32) * np.float32(0.4)

    size_factor = rng.lognormal(0.0, 0.35, n_cells).astype(np.float32)
    size_factor[doublet] *= np.float32(1.8)

    # Marker genes: a contiguous block per cluster at the start; mito genes at the end.
    n_mito = len(_MITO) if n_genes >= 100 else 0
    usable = n_genes - n_mito
    per_cluster = min(20, usable // (2 * k)) if usable >= 2 * k else 0
    marker_of = np.full(n_genes, -1, dtype=np.int64)
    if per_cluster:
        marker_of[: k * per_cluster] = np.repeat(np.arange(k), per_cluster)

    x, totals, detected, mito = _expression(
        rng,
        labels,
        size_factor=size_factor,
        n_genes=n_genes,
        density=density,
        marker_of=marker_of,
        n_clusters=k,
        sink=x_sink,
    )
    pct_mito = np.divide(100.0 * mito, totals, out=np.zeros_like(totals), where=totals > 0)

    width = max(4, len(str(n_genes)))
    gene_ids = [f"GENE{i + 1:0{width}d}" for i in range(n_genes)]
    symbols = [f"SYM{i + 1:0{width}d}" for i in range(n_genes)]
    for c in range(k if per_cluster else 0):
        for j, sym in enumerate(_MARKERS.get(names[c], ())[:per_cluster]):
            symbols[c * per_cluster + j] = sym
    for j in range(n_mito):
        symbols[usable + j] = _MITO[j]
    var = pd.DataFrame(
        {"symbol": symbols, "is_marker_of": [names[c] if c >= 0 else "" for c in marker_of]},
        index=pd.Index(symbols if symbols_as_names else gene_ids, name="gene_id"),
    )

    batch_names = pd.Index([f"batch{i + 1}" for i in range(4)])
    sample_names = pd.Index([f"S{i + 1:03d}" for i in range(n_samples)])
    cell_width = max(7, len(str(n_cells)))
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical.from_codes(labels, categories=pd.Index(names)),
            "batch": pd.Categorical.from_codes(batch, categories=batch_names),
            "sample": pd.Categorical.from_codes(sample, categories=sample_names),
            "is_doublet": doublet,
            "total_counts": totals.astype(np.float32),
            "n_genes": detected.astype(np.int64),
            "pct_mito": pct_mito.astype(np.float32),
        },
        index=pd.Index([f"cell{i:0{cell_width}d}" for i in range(n_cells)], name="cell_id"),
    )

    adata = ad.AnnData(X=x, obs=obs, var=var)
    adata.obsm["X_umap"] = umap
    adata.obsm["X_umap_3d"] = umap3
    adata.obsm["X_pca"] = pca
    adata.uns["synthetic"] = {
        "seed": seed,
        "density": density,
        "n_clusters": k,
        "generator": "cellucid_cloud.demo.synthetic",
    }
    if with_knn:
        conn, dist = _knn_graph(umap, 15)
        adata.obsp["connectivities"] = conn
        adata.obsp["distances"] = dist
        adata.uns["neighbors"] = {
            "connectivities_key": "connectivities",
            "distances_key": "distances",
            "params": {"n_neighbors": 15, "method": "umap", "use_rep": "X_umap"},
        }
    if with_velocity:
        # Each cluster "differentiates" towards the next one on the ring: a coherent flow.
        centres = np.stack([umap[labels == c].mean(axis=0) for c in range(k)]).astype(np.float32)
        direction = centres[(labels + 1) % k] - umap
        norm = np.linalg.norm(direction, axis=1, keepdims=True)
        velocity = direction / np.maximum(norm, 1e-6) * np.float32(0.5)
        velocity += rng.normal(0.0, 0.15, size=velocity.shape).astype(np.float32)
        adata.obsm["velocity_umap"] = velocity.astype(np.float32)
    return adata


def write_synthetic_h5ad(
    path: str | os.PathLike[str], n_cells: int, n_genes: int, **kw: Any
) -> Path:
    """Generate and write an uncompressed ``.h5ad``; atomic so a cache never holds half a file.
    Beyond :data:`STREAM_ABOVE` stored values X is written chunk by chunk as it is generated
    (the same values; 10^9 of them would not fit in memory twice)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if n_cells * n_genes * kw.get("density", 0.1) > STREAM_ABOVE:
            _write_streamed(tmp, n_cells, n_genes, **kw)
        else:
            make_synthetic(n_cells, n_genes, **kw).write_h5ad(tmp, compression=None)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


STREAM_ABOVE = 1 << 28
"""Stored values of X beyond which :func:`write_synthetic_h5ad` streams X to the file."""


def _write_streamed(path: Path, n_cells: int, n_genes: int, **kw: Any) -> None:
    """The file :func:`write_synthetic_h5ad` writes, X appended as it is generated (chunked,
    uncompressed datasets) and the rest written element by element beside it."""
    import h5py

    with h5py.File(path, "w") as file:
        x = file.create_group("X")
        x.attrs.update(
            {
                "encoding-type": "csr_matrix",
                "encoding-version": "0.1.0",
                "shape": [n_cells, n_genes],
            }
        )
        columns = {
            name: x.create_dataset(name, (0,), dtype, maxshape=(None,), chunks=(1 << 20,))
            for name, dtype in (("data", np.float32), ("indices", np.int32))
        }

        def append(values: F32, indices: NDArray[np.int32]) -> None:
            for dataset, part in ((columns["data"], values), (columns["indices"], indices)):
                at = dataset.shape[0]
                dataset.resize((at + part.size,))
                dataset[at:] = part

        adata = make_synthetic(n_cells, n_genes, x_sink=append, **kw)
        indptr = np.zeros(n_cells + 1, np.int64)
        np.cumsum(adata.obs["n_genes"].to_numpy(), out=indptr[1:])
        x.create_dataset("indptr", data=indptr)
        file.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
        adata.strings_to_categoricals()  # as write_h5ad does
        for key in ("obs", "var", "uns"):
            ad.io.write_elem(file, key, getattr(adata, key))
        for key in ("obsm", "obsp", "varm", "varp", "layers"):
            ad.io.write_elem(file, key, dict(getattr(adata, key)))
