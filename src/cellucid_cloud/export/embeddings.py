"""Choosing, validating and normalising the embeddings and vector fields of an export, and
which of them is shown first.

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

from .errors import PrepareError
from .format import EMBEDDING, VECTORS
from .settings import EmbeddingChoice
from .source import dense_shape

_PREFERRED = ("umap", "tsne", "draw_graph", "phate", "spatial", "pca")
_ACRONYMS = {"umap": "UMAP", "tsne": "t-SNE", "pca": "PCA", "phate": "PHATE", "mde": "MDE"}

_Pick = tuple[str, str, str, tuple[int, ...], NDArray[np.floating]]
"""An embedding before normalisation: id, label, obsm key, columns, values."""


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


def _width(obsm: Mapping[str, Any], key: str, n_cells: int) -> int | None:
    """Columns of obsm[key] if it is a dense numeric per-cell array (seen without reading it
    when it is in a file: sparse, data frame and awkward entries are never read)."""
    shape = dense_shape(obsm, key)
    if shape is None or len(shape) not in (1, 2):
        return None
    if shape[0] != n_cells:
        raise PrepareError(f"obsm[{key!r}] has {shape[0]} rows but there are {n_cells} cells")
    return 1 if len(shape) == 1 else shape[1]


def _numeric_2d(obsm: Mapping[str, Any], key: str, n_cells: int) -> NDArray[np.floating] | None:
    if _width(obsm, key, n_cells) is None:
        return None
    array = np.asarray(obsm[key])
    return array.reshape(-1, 1) if array.ndim == 1 else array


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
    return normalised.astype(EMBEDDING.sole_encoding.array_dtype), scale


def _is_vector_field_name(key: str, embedding_keys: set[str]) -> bool:
    return not key.startswith("X_") and any(
        key.endswith("_" + base.removeprefix("X_")) for base in embedding_keys
    )


def _label(key: str, columns: tuple[int, ...], width: int) -> str:
    """'UMAP' for a whole X_umap, 'PCA 1–2' for the first two columns of X_pca (cellxgene's
    names); other keys keep their name without the 'X_' prefix."""
    name = key.removeprefix("X_") or key
    name = _ACRONYMS.get(name.lower(), name)
    if columns == tuple(range(width)):
        return name
    consecutive = columns == tuple(range(columns[0], columns[0] + len(columns)))
    if consecutive and len(columns) > 1:
        return f"{name} {columns[0] + 1}\u2013{columns[-1] + 1}"
    return f"{name} {'/'.join(str(c + 1) for c in columns)}"


def _picked(key: str, columns: tuple[int, ...], array: NDArray[np.floating]) -> _Pick:
    width = array.shape[1]
    whole = columns == tuple(range(width))
    embedding_id = key if whole else f"{key}[{','.join(map(str, columns))}]"
    return embedding_id, _label(key, columns, width), key, columns, array[:, list(columns)]


def select_embeddings(
    obsm: Mapping[str, Any], n_cells: int, choices: Sequence[EmbeddingChoice]
) -> list[Embedding]:
    """The explicit choices, or (as cellxgene does) every numeric obsm array with two or more
    columns that is not a vector field: its first two columns, and all three of a 3-column one."""
    picked: list[_Pick] = []
    if choices:
        for choice in choices:
            if choice.key not in obsm:
                raise PrepareError(f"embedding {choice.key!r}: not in obsm (has {sorted(obsm)})")
            array = _numeric_2d(obsm, choice.key, n_cells)
            if array is None:
                raise PrepareError(f"obsm[{choice.key!r}] is not a numeric per-cell array")
            width = array.shape[1]
            columns = choice.columns
            if columns is None:
                columns = tuple(range(width)) if width <= 3 else (0, 1)
            if max(columns) >= width:
                raise PrepareError(f"obsm[{choice.key!r}] has only {width} columns")
            picked.append(_picked(choice.key, columns, array))
    else:
        wide = {k for k in obsm if (_width(obsm, k, n_cells) or 0) >= 2}
        for key in sorted(wide):
            if _is_vector_field_name(key, wide - {key}):
                continue
            array = np.asarray(obsm[key])
            picked.append(_picked(key, (0, 1), array))
            if array.shape[1] == 3:
                picked.append(_picked(key, (0, 1, 2), array))
    if not picked:
        raise PrepareError(
            "no usable embedding: obsm has no numeric array with two or more columns "
            f"(obsm keys: {', '.join(sorted(obsm)) or 'none'})"
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


def _rank(embedding: Embedding) -> tuple[int, int, bool, str]:
    """X_umap first; then by name UMAP, t-SNE, ..., PCA, the rest; whole arrays before parts."""
    lowered = embedding.key.lower()
    position = next((i for i, word in enumerate(_PREFERRED) if word in lowered), len(_PREFERRED))
    whole = embedding.id == embedding.key
    return (embedding.key != "X_umap", position, not whole, embedding.id)


@dataclass(frozen=True)
class Defaults:
    """The view shown first and, per dimension, the embedding a switch of dimension shows."""

    default: Embedding
    by_dimension: dict[str, str]


def choose_defaults(
    embeddings: Sequence[Embedding],
    asked: str | None,
    suggested: str | None,
    warnings: list[str],
) -> Defaults:
    """The default view: ``asked`` (an embedding id or obsm key; refused if it names none),
    else the file's ``suggested`` one (uns['default_embedding']; ignored with a warning if it
    names none), else the best-ranked 2-D embedding (a 3-D one is offered, never preferred)."""

    def named(name: str) -> Embedding | None:
        exact = [e for e in embeddings if e.id == name]
        of_key = sorted(
            (e for e in embeddings if e.key == name),
            key=lambda e: (e.dimension != 2, e.dimension, e.id != e.key),
        )
        found = exact or of_key
        return found[0] if found else None

    default = named(asked) if asked else None
    if asked and default is None:
        raise PrepareError(
            f"default embedding {asked!r} is not one of the exported embeddings "
            f"({', '.join(e.id for e in embeddings)})"
        )
    if default is None and suggested:
        default = named(suggested)
        if default is None:
            warnings.append(
                f"uns['default_embedding'] names {suggested!r}, which is not exported; "
                "using the usual default"
            )
    if default is None:
        default = min(embeddings, key=lambda e: (e.dimension != 2, _rank(e)))
    by_dimension = {}
    for dimension in sorted({e.dimension for e in embeddings}):
        candidates = [e for e in embeddings if e.dimension == dimension]
        best = default if default.dimension == dimension else min(candidates, key=_rank)
        by_dimension[f"{dimension}d"] = best.id
    return Defaults(default, by_dimension)


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
            array = _numeric_2d(obsm, key, n_cells)
            if array is None or array.shape[1] != embedding.dimension:
                continue
            vectors = array.astype(np.float64) * embedding.scale
            if not np.isfinite(vectors).all():
                raise PrepareError(f"vector field obsm[{key!r}] has NaN or infinite values")
            fields.setdefault(key.removesuffix(suffix), {})[embedding.id] = vectors.astype(
                VECTORS.sole_encoding.array_dtype
            )
    return [
        VectorField(field_id, index, fields[field_id])
        for index, field_id in enumerate(sorted(fields))
    ]
