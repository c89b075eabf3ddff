"""Which gene names an export shows, and which it keeps as alternatives to search by.

Curators' files name genes in several places: CELLxGENE files keep Ensembl ids as the var
index and symbols in ``var['feature_name']``; scanpy's 10x readers keep symbols as the index
and ids in ``var['gene_ids']``, or ids as the index and symbols in ``var['gene_symbols']``.
Symbols are what people type, so they are the names shown; every other of these name sets
present (the index included) is kept as an alternative set in the var manifest's
``gene_name_sets``, which the viewer searches too.
"""

from dataclasses import dataclass, field

import pandas as pd

from .errors import PrepareError

INDEX = "_index"
"""The var index, as anndata names it on disk (no var column may be called this)."""

SYMBOL_COLUMNS = ("feature_name", "gene_symbols")
"""var columns holding symbols, shown in place of the index when present, in this order."""

ID_COLUMNS = ("gene_ids",)
"""var columns holding ids beside a symbol index; kept as alternatives."""


@dataclass(frozen=True)
class NameSet:
    """An alternative name per gene (None where the file has none), and where it came from."""

    source: str | None
    """A var column, or None for the var index."""
    names: list[str | None]


@dataclass(frozen=True)
class GeneNames:
    """Unique gene names and how they were obtained, for the var manifest's name sets."""

    names: list[str]
    source: str | None
    filled_from_index: int
    renamed: list[list[str]]
    alternatives: list[NameSet] = field(default_factory=list)


def _column_names(var: pd.DataFrame, column: str) -> list[str | None]:
    values = var[column].astype("object").tolist()
    return [None if v is None or bool(pd.isna(v)) or str(v) == "" else str(v) for v in values]


def _shown_column(var: pd.DataFrame, asked: str | None) -> str | None:
    """The var column whose names are shown, or None for the index."""
    if asked == INDEX:
        return None
    if asked is not None:
        if asked not in var.columns:
            raise PrepareError(
                f"var has no column {asked!r} for gene names (columns: {list(var.columns)}; "
                f"{INDEX!r} means the var index)"
            )
        return asked
    return next((c for c in SYMBOL_COLUMNS if c in var.columns), None)


def gene_names(var: pd.DataFrame, asked: str | None, warnings: list[str]) -> GeneNames:
    """Names from the var column ``asked`` ('_index' for the index; default a symbol column,
    else the index), empty ones filled from the index, duplicates made unique; the other
    known name sets as alternatives."""
    import anndata as ad

    index = [str(name) for name in var.index]
    column = _shown_column(var, asked)
    if column is None:
        raw, filled = index, 0
    else:
        values = _column_names(var, column)
        raw = [index[i] if v is None else v for i, v in enumerate(values)]
        filled = sum(v is None for v in values)
    unique = [str(n) for n in ad.utils.make_index_unique(pd.Index(raw), join="-")]
    renamed = [[a, b] for a, b in zip(raw, unique, strict=True) if a != b]
    if renamed:
        where = "var index" if column is None else f"var column {column!r}"
        warnings.append(
            f"{len(renamed)} duplicate gene names in the {where} were made unique "
            f"(e.g. {renamed[0][0]!r} -> {renamed[0][1]!r})"
        )
    alternatives = [] if column is None else [NameSet(None, list[str | None](index))]
    for other in (*SYMBOL_COLUMNS, *ID_COLUMNS):
        if other != column and other in var.columns:
            names = _column_names(var, other)
            if names != unique:
                alternatives.append(NameSet(other, names))
    return GeneNames(unique, column, filled, renamed, alternatives)
