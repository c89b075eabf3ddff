"""What a caller may choose about an export; the defaults are the hosted ones (DESIGN §3)."""

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import PrepareError

CategoricalDtype = Literal["auto", "uint8", "uint16", "uint32"]

_DATASET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,179}$")


class EmbeddingChoice(BaseModel):
    """One obsm key to plot, optionally narrowed to 1-3 of its columns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    columns: tuple[int, ...] | None = None

    @field_validator("columns")
    @classmethod
    def _one_to_three(cls, columns: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if columns is not None:
            if not 1 <= len(columns) <= 3:
                raise ValueError("an embedding plots 1, 2 or 3 columns")
            if len(set(columns)) != len(columns) or min(columns) < 0:
                raise ValueError("columns must be distinct 0-based indices")
        return columns

    @classmethod
    def parse(cls, text: str) -> "EmbeddingChoice":
        """Read the CLI form ``KEY`` or ``KEY:0,1[,2]``."""
        key, sep, cols = text.rpartition(":") if ":" in text else (text, "", "")
        if not sep:
            return cls(key=text)
        try:
            columns = tuple(int(c) for c in cols.split(","))
        except ValueError:
            raise ValueError(f"--embedding {text!r}: columns must look like KEY:0,1") from None
        return cls(key=key, columns=columns)


class ExportOptions(BaseModel):
    """The export choices a curator may make per dataset: everything ``prepare``'s flags set
    except where the output goes, what the dataset is called and how the machine runs.

    Fields left unset keep the host's defaults (those of :class:`ExportSettings`): store a
    curator's options as ``model_dump(mode="json", exclude_unset=True)`` and apply them with
    :meth:`ExportSettings.with_options`. The JSON form of an embedding is
    ``{"key": "X_pca", "columns": [0, 1]}``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    embeddings: tuple[EmbeddingChoice, ...] = Field(
        default=(),
        description="obsm arrays to plot (key and 1-3 columns); empty: every numeric obsm "
        "array with two or more columns, from its first two (and all three of a 3-column one)",
    )
    default_embedding: str | None = Field(
        default=None,
        description="the view shown first: an obsm key or an embedding id such as "
        "'X_pca[0,1]'; default uns['default_embedding'], else X_umap, else the first 2-D one",
    )
    obs_keys: tuple[str, ...] | None = Field(
        default=None, description="obs columns to export, in this order; default all supported"
    )
    gene_names_column: str | None = Field(
        default=None,
        description="var column holding the gene names shown; '_index' for the var index; "
        "default feature_name, else gene_symbols, else the index",
    )
    expression_matrix: str | None = Field(
        default=None,
        description="where gene values come from: 'X', 'raw.X' or 'layers/<name>'; "
        "default X, else raw.X, else a layer",
    )
    latent_key: str | None = Field(
        default=None, description="obsm key for outlier distances; default X_pca if present"
    )
    compression: Annotated[int, Field(ge=0, le=9)] = 6
    var_quantization: Literal[0, 8, 16] = 8
    obs_quantization: Literal[0, 8, 16] = 16
    obs_categorical_dtype: CategoricalDtype = "auto"
    centroid_outlier_quantile: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    centroid_min_points: Annotated[int, Field(ge=1)] = 10

    @field_validator("expression_matrix")
    @classmethod
    def _known_matrix(cls, value: str | None) -> str | None:
        if (
            value is not None
            and value not in ("X", "raw.X")
            and not (value.startswith("layers/") and len(value) > len("layers/"))
        ):
            raise ValueError("expression_matrix is 'X', 'raw.X' or 'layers/<name>'")
        return value


def usable_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    return max(1, len(os.sched_getaffinity(0)))


class ExportSettings(ExportOptions):
    """Every knob of ``prepare``: the curator's options plus identity and machine settings.
    0 switches compression or quantisation off."""

    dataset_id: str | None = None
    name: str | None = Field(
        default=None, description="display name; default uns['title'], else the dataset id"
    )
    description: str = ""
    created_at: str | None = Field(
        default=None,
        description="UTC timestamp for the identity; default the input file's mtime, so that "
        "the same file exported twice gives byte-identical output.",
    )
    workers: Annotated[int, Field(ge=1, le=64)] | None = Field(
        default=None,
        description="worker processes for the blocks of X when X is in a file (threads for "
        "an AnnData in memory); default: threads on all cores in this process",
    )
    memory_budget_mb: Annotated[int, Field(ge=16)] = Field(
        default=256, description="memory for the blocks of X, shared by the workers"
    )
    block_rows: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="cells per row block; default from the memory budget"
    )
    block_genes: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="genes per gene block; default from the memory budget"
    )
    legacy_read_limit_mb: Annotated[int, Field(ge=16)] = Field(
        default=4096,
        description="memory a file written by anndata before 0.7 may take to read its obs, "
        "var, obsm and used uns entries (they are read whole); beyond it the file is refused",
    )
    outlier_quantization: Literal[0, 8, 16] | None = Field(
        default=None,
        description="bits of the categorical fields' outlier quantiles; default as "
        "obs_quantization. Float32 ones (0) need no range in the manifest, so direct serving "
        "computes them only when they are first asked for.",
    )

    def worker_count(self) -> int:
        """The blocks' workers: ``workers`` when set, else one per core this process may use."""
        return self.workers or usable_cores()

    def with_options(self, options: "ExportOptions | None") -> "ExportSettings":
        """These settings with what the curator set in ``options`` (unset fields untouched)."""
        if options is None:
            return self
        return self.model_copy(
            update={name: getattr(options, name) for name in options.model_fields_set}
        )

    @field_validator("dataset_id")
    @classmethod
    def _portable_id(cls, value: str | None) -> str | None:
        if value is not None and not _DATASET_ID.match(value):
            raise ValueError(
                "dataset id must be 1-180 ASCII letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return value


def dataset_id_from_name(stem: str) -> str:
    """A portable id derived from a file name, for callers who did not choose one."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("._-")[:180]
    return cleaned or "dataset"


def read_options(
    data: bytes | str | Mapping[str, Any], *, over: ExportOptions | None = None
) -> ExportOptions:
    """Export options from JSON or a mapping, laid over ``over``'s; a PrepareError naming the
    first bad field otherwise."""
    try:
        if isinstance(data, bytes | str):
            data = ExportOptions.model_validate_json(data).model_dump(exclude_unset=True)
        base = over.model_dump(exclude_unset=True) if over is not None else {}
        return ExportOptions.model_validate({**base, **data})
    except ValidationError as error:
        raise PrepareError(f"invalid export options: {describe_invalid(error)}") from None


def describe_invalid(error: ValidationError) -> str:
    """The first problem pydantic found, as ``where: what``."""
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return f"{where}: {first['msg']}"
