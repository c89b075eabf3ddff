"""Choosing, validating and normalising the embeddings and vector fields of an export.

Each embedding is centred on the middle of its bounding box and scaled by one factor for all of
its axes (2 / widest axis range), so it lands in [-1, 1] with its aspect ratio kept. Vector
fields (obsm '<field>_<basis>', e.g. 'velocity_umap' over 'X_umap') get the same factor as the
embedding they are drawn over.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from .errors import PrepareError
from .settings import EmbeddingChoice

_PREFERRED = ("umap", "tsne", "draw_graph", "phate", "spatial", "pca")


@dataclass(frozen=True)
class Embedding:
    """One plotted embedding, its place in the export and its normalised coordinates."""

    id: str
    label: str
    key: str
    columns: tuple[int, ...]
    index: int
    coordinates: NDArray[np.float32]
    scale: float

    @property
    def dimension(self) -> int:
        return len(self.columns)


@dataclass(frozen=True)
class VectorField:
    """Per-cell displacement vectors drawn over one or more embeddings."""

    id: str
    index: int
    by_embedding: Mapping[str, NDArray[np.float32]]


def _numeric_2d(key: str, value: Any, n_cells: int) -> NDArray[np.floating] | None:
    if sparse.issparse(value) or not hasattr(value, "dtype") or not hasattr(value, "shape"):
        return None
    array = np.asarray(value)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        return None
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[0] != n_cells:
        return None
    return array


def _normalise(label: str, values: NDArray[np.floating]) -> tuple[NDArray[np.float32], float]:
    as32 = values.astype(np.float32)
    if not np.isfinite(as32).all():
        bad = int((~np.isfinite(as32)).any(axis=1).sum())
        raise PrepareError(f"embedding {label!r} has NaN or infinite coordinates in {bad} cells")
    if as32.shape[0] == 0:
        return as32, 1.0
    wide = as32.astype(np.float64)
    low, high = wide.min(axis=0), wide.max(axis=0)
    span = float((high - low).max())
    scale = 2.0 / span if span > 0 else 1.0
    normalised = (wide - (low + high) / 2.0) * scale
    np.clip(normalised, -1.0, 1.0, out=normalised)
    return normalised.astype("<f4"), scale


def _is_vector_field_name(key: str, embedding_keys: set[str]) -> bool:
    return not key.startswith("X_") and any(
        key.endswith("_" + base.removeprefix("X_")) for base in embedding_keys
    )


def select_embeddings(
    obsm: Mapping[str, Any], n_cells: int, choices: Sequence[EmbeddingChoice]
) -> list[Embedding]:
    """The explicit choices, or every obsm array with 1-3 columns that is not a vector field."""
    picked: list[tuple[str, str, str, tuple[int, ...], NDArray[np.floating]]] = []
    if choices:
        for choice in choices:
            if choice.key not in obsm:
                raise PrepareError(f"--embedding {choice.key!r}: not in obsm (has {sorted(obsm)})")
            array = _numeric_2d(choice.key, obsm[choice.key], n_cells)
            if array is None:
                raise PrepareError(f"obsm[{choice.key!r}] is not a numeric per-cell array")
            width = array.shape[1]
            columns = choice.columns
            if columns is None:
                if width > 3:
                    raise PrepareError(
                        f"obsm[{choice.key!r}] has {width} columns; choose 1-3 of them, "
                        f"e.g. --embedding {choice.key}:0,1"
                    )
                columns = tuple(range(width))
            if max(columns) >= width:
                raise PrepareError(f"obsm[{choice.key!r}] has only {width} columns")
            whole = columns == tuple(range(width))
            embedding_id = choice.key if whole else f"{choice.key}[{','.join(map(str, columns))}]"
            label = choice.key if whole else f"{choice.key} {'/'.join(str(c + 1) for c in columns)}"
            picked.append((embedding_id, label, choice.key, columns, array[:, list(columns)]))
    else:
        arrays = {k: a for k in obsm if (a := _numeric_2d(k, obsm[k], n_cells)) is not None}
        narrow = {k for k, a in arrays.items() if 1 <= a.shape[1] <= 3}
        for key in sorted(narrow):
            if _is_vector_field_name(key, narrow - {key}):
                continue
            array = arrays[key]
            columns = tuple(range(array.shape[1]))
            picked.append((key, key, key, columns, array))
    if not picked:
        raise PrepareError(
            "no usable embedding: obsm has no numeric array with 1-3 columns "
            f"(obsm keys: {sorted(obsm) or 'none'}); choose columns with --embedding KEY:0,1"
        )
    ids = [p[0] for p in picked]
    if len(set(ids)) != len(ids):
        raise PrepareError(f"the same embedding was chosen twice: {ids}")
    picked.sort(key=lambda p: (len(p[3]), p[0]))
    embeddings = []
    for index, (embedding_id, label, key, columns, values) in enumerate(picked):
        coordinates, scale = _normalise(embedding_id, values)
        embeddings.append(Embedding(embedding_id, label, key, columns, index, coordinates, scale))
    return embeddings


def _rank(embedding_id: str) -> tuple[int, str]:
    lowered = embedding_id.lower()
    for position, word in enumerate(_PREFERRED):
        if word in lowered:
            return position, embedding_id
    return len(_PREFERRED), embedding_id


def default_embeddings(embeddings: Sequence[Embedding]) -> dict[str, str]:
    """Per dimension, the embedding shown first: UMAP before t-SNE before the rest."""
    defaults: dict[str, str] = {}
    for dimension in sorted({e.dimension for e in embeddings}):
        candidates = [e.id for e in embeddings if e.dimension == dimension]
        defaults[f"{dimension}d"] = min(candidates, key=_rank)
    return defaults


def select_vector_fields(
    obsm: Mapping[str, Any], n_cells: int, embeddings: Sequence[Embedding]
) -> list[VectorField]:
    """Every obsm '<field>_<basis>' whose shape matches an exported whole embedding 'X_<basis>'."""
    whole = {e.key: e for e in embeddings if e.id == e.key}
    fields: dict[str, dict[str, NDArray[np.float32]]] = {}
    for key in sorted(obsm):
        if key.startswith("X_") or key in whole:
            continue
        for base_key, embedding in whole.items():
            suffix = "_" + base_key.removeprefix("X_")
            if not key.endswith(suffix) or len(key) == len(suffix):
                continue
            array = _numeric_2d(key, obsm[key], n_cells)
            if array is None or array.shape[1] != embedding.dimension:
                continue
            vectors = array.astype(np.float64) * embedding.scale
            if not np.isfinite(vectors).all():
                raise PrepareError(f"vector field obsm[{key!r}] has NaN or infinite values")
            fields.setdefault(key.removesuffix(suffix), {})[embedding.id] = vectors.astype("<f4")
    return [
        VectorField(field_id, index, fields[field_id])
        for index, field_id in enumerate(sorted(fields))
    ]
