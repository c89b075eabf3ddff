"""What a caller may choose about an export; the defaults are the hosted ones (DESIGN §3)."""

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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


class ExportSettings(BaseModel):
    """Every knob of ``prepare``; 0 switches compression or quantisation off."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset_id: str | None = None
    name: str | None = None
    description: str = ""
    created_at: str | None = Field(
        default=None,
        description="UTC timestamp for the identity; default the input file's mtime, so that "
        "the same file exported twice gives byte-identical output.",
    )
    compression: Annotated[int, Field(ge=0, le=9)] = 6
    var_quantization: Literal[0, 8, 16] = 8
    obs_quantization: Literal[0, 8, 16] = 16
    obs_categorical_dtype: CategoricalDtype = "auto"
    embeddings: tuple[EmbeddingChoice, ...] = ()
    obs_keys: tuple[str, ...] | None = None
    gene_names_column: str | None = None
    latent_key: str | None = None
    centroid_outlier_quantile: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    centroid_min_points: Annotated[int, Field(ge=1)] = 10
    workers: Annotated[int, Field(ge=1, le=64)] | None = None
    memory_budget_mb: Annotated[int, Field(ge=16)] = 256

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
