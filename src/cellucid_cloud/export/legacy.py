"""Files written by anndata before 0.7 (DESIGN §9): obs, var and obsm as compound (structured)
arrays, categories as integer codes with their labels in ``uns['<column>_categories']``, raw
as ``raw.X`` / ``raw.var``, the neighbour graph under ``uns['neighbors']``.

Those parts are decoded by anndata's own legacy readers, and only whole, so they are bounded:
their estimated size in memory must fit ``legacy_read_limit_mb`` or the file is refused with
one line saying how to re-save it. X (or raw.X, a layer) is still streamed from disk like a
current file's, and uns is read only for what the export uses (categories, colours, title,
default embedding, graph), never its analysis results.
"""

import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import anndata as ad
import numpy as np
import pandas as pd

from .errors import PrepareError

_UNS_SUFFIXES = ("_categories", "_colors")
_UNS_KEYS = ("title", "default_embedding")
_PER_STRING = 64
"""Bytes assumed per decoded string beyond its stored characters (a Python object)."""


@dataclass(frozen=True)
class Annotations:
    """The parts of an AnnData the export reads besides its matrix."""

    obs: pd.DataFrame
    var: pd.DataFrame
    obsm: Mapping[str, Any]
    uns: Mapping[str, Any]
    connectivities: Any


def _arrays(node: Any) -> Iterator[Any]:
    if hasattr(node, "dtype"):
        yield node
        return
    for key in node:
        yield from _arrays(node[key])


def _decoded_bytes(node: Any) -> int:
    """Memory the decoded arrays under ``node`` take, roughly: twice what they store (read,
    then converted), plus a Python object per string."""
    total = 0
    for array in _arrays(node):
        dtype = np.dtype(array.dtype)
        fields = [dtype.fields[name][0] for name in dtype.names] if dtype.names else [dtype]
        strings = sum(1 for field in fields if field.base.kind in "SUO")
        total += math.prod(array.shape) * (2 * dtype.itemsize + _PER_STRING * strings)
    return total


def _uns_parts(uns: Any) -> dict[str, Any]:
    """The uns entries the export reads, as nodes: never the rest (rank_genes_groups, ...)."""
    if uns is None:
        return {}
    wanted = {
        str(key): uns[key]
        for key in uns
        if str(key).endswith(_UNS_SUFFIXES) or str(key) in _UNS_KEYS
    }
    neighbors = uns.get("neighbors")
    if neighbors is not None and not hasattr(neighbors, "dtype") and "connectivities" in neighbors:
        wanted["neighbors/connectivities"] = neighbors["connectivities"]
    return wanted


def _read_frame(node: Any) -> pd.DataFrame:
    """A data frame in either layout, by anndata's reader for the container (HDF5 or zarr)."""
    import h5py

    if isinstance(node, h5py.Dataset | h5py.Group):
        from anndata._io.h5ad import read_dataframe
    else:
        from anndata._io.zarr import read_dataframe
    frame = read_dataframe(node)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{node.name} is not a data frame")
    return frame


def _mib(count: int) -> str:
    return f"{count / 2**30:,.1f} GiB" if count >= 2**30 else f"{count / 2**20:,.0f} MiB"


def read_legacy(root: Any, var_node: Any, path: Path, limit_mb: int) -> Annotations:
    """obs, the genes' var, obsm, the used uns entries and the graph of a pre-0.7 file."""
    from anndata.compat import _clean_uns

    uns_nodes = _uns_parts(root.get("uns"))
    parts = [root["obs"], var_node, *uns_nodes.values()]
    if "obsm" in root:
        parts.append(root["obsm"])
    needed = sum(_decoded_bytes(part) for part in parts)
    if needed > limit_mb << 20:
        raise PrepareError(
            f"{path}: written by anndata before 0.7 (obs and var as compound arrays), which "
            f"is read whole: about {_mib(needed)}, more than the {_mib(limit_mb << 20)} allowed; "
            "re-save it with a current anndata "
            "(anndata.read_h5ad(old).write_h5ad(new))"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obs = _read_frame(root["obs"])
        var = _read_frame(var_node)
        uns = {key: ad.io.read_elem(node) for key, node in uns_nodes.items()}
        graph = uns.pop("neighbors/connectivities", None)
        obsm: Any = ad.io.read_elem(root["obsm"]) if "obsm" in root else None
        # anndata's constructor turns a compound obsm into arrays; _clean_uns turns codes and
        # uns['<column>_categories'] into categorical columns, as anndata.read_h5ad does.
        adata = ad.AnnData(obs=obs, var=var, obsm=obsm, uns=uns)
        _clean_uns(adata)
    return Annotations(
        obs=cast(pd.DataFrame, adata.obs),
        var=cast(pd.DataFrame, adata.var),
        obsm=dict(adata.obsm.items()),
        uns=dict(adata.uns),
        connectivities=graph,
    )
