"""The JSON documents of an export folder (Cellucid identity v3 and compact_v2 manifests).

One set of models serves the writer, the reader and the servers, so a field renamed in one
place is renamed everywhere. Field order follows the reference format. The format stores each
field of the obs and var manifests as a heterogeneous array (``[index, key, min, max]``); here
each is a typed record (:class:`ValueFieldEntry`, :class:`CategoricalFieldEntry`), read from
and written as that array by one pair of functions.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Annotated, Any, Final, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic_core import PydanticCustomError

from .errors import PrepareError
from .format import GENE_VALUES, OBS_CODES, OBS_OUTLIERS, OBS_VALUES, Encoding, PayloadKind

IDENTITY_FILE = "dataset_identity.json"
OBS_MANIFEST_FILE = "obs_manifest.json"
VAR_MANIFEST_FILE = "var_manifest.json"
CONNECTIVITY_MANIFEST_FILE = "connectivity_manifest.json"


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class EmbeddingSource(_Model):
    key: str | None
    columns: list[int]


class EmbeddingItem(_Model):
    label: str
    dimension: int
    file: str
    source: EmbeddingSource


class EmbeddingsInfo(_Model):
    default_dimension: int
    defaults: dict[str, str]
    items: dict[str, EmbeddingItem]


class Stats(_Model):
    n_cells: int
    n_genes: int
    n_obs_fields: int
    n_categorical_fields: int
    n_continuous_fields: int
    has_connectivity: bool
    n_edges: int | None


class ObsFieldInfo(_Model):
    key: str
    kind: Literal["continuous", "category"]
    n_categories: int | None = None


class ExportSettingsInfo(_Model):
    compression: int | None
    var_quantization: int | None
    obs_continuous_quantization: int | None
    obs_categorical_dtype: str


class VectorFieldInfo(_Model):
    label: str
    files: dict[str, str]


class VectorFieldsInfo(_Model):
    default_field: str
    fields: dict[str, VectorFieldInfo]


class OntologyTermInfo(_Model):
    label: str
    ontology_term_id: str


CELLUCID_DATA_VERSION = "0.9.4"
"""The Cellucid release whose export format we write: the value its own ``prepare`` puts in
``cellucid_data_version`` (its package version). Our own version has a field of its own."""


class DatasetIdentity(_Model):
    version: Literal[3] = 3
    id: str
    name: str
    description: str
    created_at: str
    cellucid_data_version: str
    cellucid_cloud_version: str | None = None
    """The cellucid-cloud release that wrote the export (not part of Cellucid's format)."""
    stats: Stats
    embeddings: EmbeddingsInfo
    obs_fields: list[ObsFieldInfo]
    export_settings: ExportSettingsInfo
    source: dict[str, str] | None = None
    vector_fields: VectorFieldsInfo | None = None
    expression_matrix: str | None = None
    """Where the gene values come from ('X', 'raw.X', 'layers/<name>'); ours, the app ignores it."""
    ontology_terms: dict[str, list[OntologyTermInfo]] | None = None
    """The CELLxGENE schema terms of the dataset (``schema_terms``); not part of Cellucid's
    format, absent when the obs does not follow the schema."""


def _value_schema(kind: PayloadKind, encoding: Encoding, compression: int) -> dict[str, Any]:
    """The schema fields of a kind of values written in ``encoding``."""
    return {
        "pathPattern": kind.manifest_pattern(encoding, compression),
        "ext": encoding.ext,
        "dtype": encoding.dtype,
        "quantized": not encoding.is_float,
        "quantizationBits": encoding.quantization or None,
    }


@dataclass(frozen=True, slots=True)
class ValueFieldEntry:
    """A continuous obs field or a gene: ``[index, key]``, or ``[index, key, min, max]`` when
    its values are quantised (the range of its codes)."""

    index: int | str
    """Written as a number; what another exporter wrote is read as given, since it only fills
    ``{index}`` in a path (which is then checked like any other)."""
    key: str | None = None
    low: float | None = None
    high: float | None = None

    @property
    def bounds(self) -> tuple[float, float] | None:
        """The range of a quantised field's codes."""
        return None if self.low is None or self.high is None else (self.low, self.high)


@dataclass(frozen=True, slots=True)
class CategoricalFieldEntry:
    """A categorical obs field: ``[index, key, categories, codes dtype, missing code,
    centroids by embedding]``, then ``min, max`` of its outlier quantiles when quantised."""

    index: int | str
    key: str
    categories: list[Any]
    codes_dtype: str
    missing: int | None = None
    centroids: dict[str, Any] | None = None
    outlier_low: float | None = None
    outlier_high: float | None = None

    @property
    def outlier_bounds(self) -> tuple[float, float] | None:
        """The range of quantised outlier quantiles' codes."""
        if self.outlier_low is None or self.outlier_high is None:
            return None
        return (self.outlier_low, self.outlier_high)


SHORT_ENTRY: Final = "short_entry"
"""The pydantic error type of a field entry too short to name its payload."""


def _from_array(entry: type[Any], needed: int) -> Callable[[Any], Any]:
    """Reads an ``entry`` from the format's array: at least ``needed`` items (what names its
    payload); items past the record's ignored, as the format may grow."""
    names = [item.name for item in fields(entry)]

    def read(data: Any) -> Any:
        if not isinstance(data, list):
            return data
        if len(data) < needed:
            raise PydanticCustomError(
                SHORT_ENTRY,
                "has {found} item(s), needs at least {needed}",
                {"found": len(data), "needed": needed},
            )
        return dict(zip(names, data, strict=False))

    return read


def _to_array(entry: ValueFieldEntry | CategoricalFieldEntry) -> list[Any]:
    """An entry as the format's array: its items up to the last one present."""
    items = [getattr(entry, item.name) for item in fields(entry)]
    while items and items[-1] is None:
        items.pop()
    return items


_ValueField = Annotated[
    ValueFieldEntry,
    BeforeValidator(_from_array(ValueFieldEntry, 1)),
    PlainSerializer(_to_array),
]
_CategoricalField = Annotated[
    CategoricalFieldEntry,
    BeforeValidator(_from_array(CategoricalFieldEntry, 4)),
    PlainSerializer(_to_array),
]


class ContinuousSchema(_Model):
    pathPattern: str  # noqa: N815 - the format's own spelling
    ext: str
    dtype: str
    quantized: bool
    quantizationBits: int | None = None  # noqa: N815

    @classmethod
    def of(cls, encoding: Encoding, compression: int) -> Self:
        """The schema of continuous obs fields written in ``encoding``."""
        return cls(**_value_schema(OBS_VALUES, encoding, compression))


class CategoricalSchema(_Model):
    codesPathPattern: str  # noqa: N815
    outlierPathPattern: str  # noqa: N815
    outlierExt: str  # noqa: N815
    outlierDtype: str  # noqa: N815
    outlierQuantized: bool  # noqa: N815

    @classmethod
    def of(cls, outliers: Encoding, compression: int) -> Self:
        """The schema of categorical obs fields whose outlier quantiles are in ``outliers``
        (each field names its codes' encoding)."""
        return cls(
            codesPathPattern=OBS_CODES.manifest_pattern(None, compression),
            outlierPathPattern=OBS_OUTLIERS.manifest_pattern(outliers, compression),
            outlierExt=outliers.ext,
            outlierDtype=outliers.dtype,
            outlierQuantized=not outliers.is_float,
        )


class ObsSchemas(_Model):
    continuous: ContinuousSchema | None = None
    categorical: CategoricalSchema | None = None


class ObsManifest(_Model):
    format: Literal["compact_v2"] = Field(default="compact_v2", alias="_format")
    n_points: int
    centroid_outlier_quantile: float | None
    latent_key: str
    compression: int | None
    obsSchemas: ObsSchemas = Field(alias="_obsSchemas")  # noqa: N815
    continuousFields: list[_ValueField] = Field(alias="_continuousFields")  # noqa: N815
    categoricalFields: list[_CategoricalField] = Field(alias="_categoricalFields")  # noqa: N815
    category_colors: dict[str, list[str]] | None = None
    """Ours, ignored by the Cellucid app: '#rrggbb' per category of a field, from
    uns['<field>_colors']."""


class VarSchema(_Model):
    kind: Literal["continuous"] = "continuous"
    pathPattern: str  # noqa: N815
    ext: str
    dtype: str
    quantized: bool
    quantizationBits: int | None = None  # noqa: N815

    @classmethod
    def of(cls, encoding: Encoding, compression: int) -> Self:
        """The schema of genes written in ``encoding``."""
        return cls(**_value_schema(GENE_VALUES, encoding, compression))


class GeneNameSet(_Model):
    source: str | None
    filled_from_index: int
    renamed: list[list[str]]
    names: list[str | None] | None


class VarManifest(_Model):
    format: Literal["compact_v2"] = Field(default="compact_v2", alias="_format")
    n_points: int
    compression: int | None
    quantization: int | None
    varSchema: VarSchema = Field(alias="_varSchema")  # noqa: N815
    fields: list[_ValueField]
    gene_name_sets: list[GeneNameSet]


class ConnectivityManifest(_Model):
    format: Literal["edge_pairs"] = "edge_pairs"
    n_cells: int
    n_edges: int
    max_neighbors: int
    index_bytes: int
    index_dtype: str
    sourcesPath: str  # noqa: N815
    destinationsPath: str  # noqa: N815
    weightsPath: str  # noqa: N815
    weight_dtype: Literal["float64"] = "float64"
    weight_bytes: int = 8
    compression: int | None


def dump_json(model: BaseModel, *, indent: int | None = None) -> bytes:
    """Deterministic strict JSON (no NaN, UTF-8 as is); optional keys left out when unset."""
    data = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    _restore_required_nulls(model, data)
    try:
        text = json.dumps(
            data,
            ensure_ascii=False,
            allow_nan=False,
            indent=indent,
            separators=(",", ": ") if indent else (",", ":"),
        )
        return text.encode("utf-8")
    except ValueError as error:
        raise PrepareError(f"a manifest value is not finite JSON ({error})") from None
    except UnicodeEncodeError as error:
        bad = error.object[error.start : error.end].encode("utf-8", "backslashreplace")
        raise PrepareError(f"a name contains text that is not valid Unicode: {bad!r}") from None


def _restore_required_nulls(model: BaseModel, data: dict[str, Any]) -> None:
    """Keep nulls the format declares (e.g. compression: null), drop only optional absences."""
    for name, info in type(model).model_fields.items():
        key = info.alias or name
        value = getattr(model, name)
        if value is None and info.is_required():
            data[key] = None
        elif isinstance(value, BaseModel) and key in data:
            _restore_required_nulls(value, data[key])
        elif isinstance(value, dict) and key in data:
            for sub_key, sub_value in value.items():
                if isinstance(sub_value, BaseModel):
                    _restore_required_nulls(sub_value, data[key][sub_key])
        elif isinstance(value, list) and key in data:
            for item, dumped in zip(value, data[key], strict=True):
                if isinstance(item, BaseModel):
                    _restore_required_nulls(item, dumped)
