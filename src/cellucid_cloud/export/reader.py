"""Decoding an export folder back into arrays, exactly as the viewer does.

Used by the test suite to compare every payload with the AnnData it came from, and by anyone
who wants the numbers back out of an export (e.g. a notebook reading a hosted dataset).
"""

import gzip
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from .format import (
    EDGE_SOURCES,
    EDGE_WEIGHTS,
    EMBEDDING,
    ENCODINGS,
    GZIP_SUFFIX,
    OBS_CODES,
    VECTORS,
    Encoding,
    fill,
)
from .layout import ExportManifests, read_manifests
from .manifests import CategoricalFieldEntry, ValueFieldEntry
from .quantize import Bits, dequantize


class ExportReader:
    """Random access to the decoded payloads of one export folder."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.manifests: ExportManifests = read_manifests(self.folder)

    def raw(self, relative: str) -> bytes:
        """A payload's bytes, gunzipped when its name ends in .gz."""
        data = (self.folder / relative).read_bytes()
        return gzip.decompress(data) if relative.endswith(GZIP_SUFFIX) else data

    def _array(self, relative: str, encoding: Encoding) -> NDArray[Any]:
        return np.frombuffer(self.raw(relative), dtype=encoding.array_dtype)

    @property
    def n_cells(self) -> int:
        return self.manifests.identity.stats.n_cells

    def embedding(self, embedding_id: str) -> NDArray[np.float32]:
        item = self.manifests.identity.embeddings.items[embedding_id]
        return self._array(item.file, EMBEDDING.sole_encoding).reshape(self.n_cells, item.dimension)

    def vectors(self, field_id: str, embedding_id: str) -> NDArray[np.float32]:
        fields = self.manifests.identity.vector_fields
        assert fields is not None, "export has no vector fields"
        dimension = self.manifests.identity.embeddings.items[embedding_id].dimension
        path = fields.fields[field_id].files[embedding_id]
        return self._array(path, VECTORS.sole_encoding).reshape(self.n_cells, dimension)

    def _continuous_entry(self, key: str) -> ValueFieldEntry:
        obs = self.manifests.obs
        assert obs is not None, "export has no obs manifest"
        return _named(obs.continuousFields, key)

    def _categorical_entry(self, key: str) -> CategoricalFieldEntry:
        obs = self.manifests.obs
        assert obs is not None, "export has no obs manifest"
        return _named(obs.categoricalFields, key)

    def continuous(self, key: str) -> NDArray[np.float32]:
        """A continuous obs field as float32, missing values as NaN."""
        obs = self.manifests.obs
        assert obs is not None and obs.obsSchemas.continuous is not None
        schema = obs.obsSchemas.continuous
        entry = self._continuous_entry(key)
        return self._decoded(schema.pathPattern, entry.index, schema.ext, entry.bounds)

    def categorical(self, key: str) -> tuple[list[Any], NDArray[np.int64]]:
        """Categories and per-cell codes, missing as -1."""
        obs = self.manifests.obs
        assert obs is not None and obs.obsSchemas.categorical is not None
        entry = self._categorical_entry(key)
        encoding = OBS_CODES.encoding(entry.codes_dtype)
        pattern = obs.obsSchemas.categorical.codesPathPattern
        codes = self._array(fill(pattern, index=entry.index, ext=encoding.ext), encoding)
        codes = codes.astype(np.int64)
        codes[codes == entry.missing] = -1
        return list(entry.categories), codes

    def centroids(self, key: str) -> dict[str, list[dict[str, Any]]]:
        return dict(self._categorical_entry(key).centroids or {})

    def outliers(self, key: str) -> NDArray[np.float32]:
        obs = self.manifests.obs
        assert obs is not None and obs.obsSchemas.categorical is not None
        schema = obs.obsSchemas.categorical
        entry = self._categorical_entry(key)
        return self._decoded(
            schema.outlierPathPattern, entry.index, schema.outlierExt, entry.outlier_bounds
        )

    @property
    def gene_names(self) -> list[str]:
        var = self.manifests.var
        return [] if var is None else [str(f.key) for f in var.fields]

    def gene(self, name_or_index: str | int) -> NDArray[np.float32]:
        """One gene's values for every cell (dequantised when the export is quantised)."""
        var = self.manifests.var
        assert var is not None, "export has no genes"
        index = (
            name_or_index
            if isinstance(name_or_index, int)
            else self.gene_names.index(name_or_index)
        )
        entry = var.fields[index]
        return self._decoded(
            var.varSchema.pathPattern, entry.index, var.varSchema.ext, entry.bounds
        )

    def _decoded(
        self, pattern: str, index: int | str, ext: str, bounds: tuple[float, float] | None
    ) -> NDArray[np.float32]:
        """A value payload as float32: as stored, or dequantised with its manifest bounds."""
        encoding = ENCODINGS[ext]
        values = self._array(fill(pattern, index=index), encoding)
        if encoding.is_float:
            return values
        if bounds is None:
            raise ValueError(f"{fill(pattern, index=index)}: quantised, but its range is missing")
        return dequantize(values, bounds[0], bounds[1], cast(Bits, encoding.bits))

    def edges(self) -> tuple[NDArray[np.integer], NDArray[np.integer], NDArray[np.float64]]:
        manifest = self.manifests.connectivity
        assert manifest is not None, "export has no connectivity"
        index = EDGE_SOURCES.encoding(manifest.index_dtype)
        return (
            self._array(manifest.sourcesPath, index),
            self._array(manifest.destinationsPath, index),
            self._array(manifest.weightsPath, EDGE_WEIGHTS.sole_encoding),
        )


def _named[E: (ValueFieldEntry, CategoricalFieldEntry)](entries: list[E], key: str) -> E:
    """The entry of the field ``key``; KeyError when there is none."""
    for entry in entries:
        if entry.key == key:
            return entry
    raise KeyError(key)
