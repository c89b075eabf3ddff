"""Turning obs columns into the export's continuous and categorical fields (DESIGN §3).

All obs fields share one index space in obs column order. Categorical: pandas category, bool,
string and object columns, codes as narrow as fit (or the width asked for), missing = dtype max.
Continuous: integer and float columns, float32 or quantised; with quantisation a NaN becomes the
missing code, without it NaN is refused because a float32 payload has no agreed missing marker.
"""

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .errors import PrepareError
from .format import OBS_CODES, Encoding
from .settings import CategoricalDtype


@dataclass(frozen=True)
class ContinuousField:
    index: int
    key: str
    values: NDArray[np.float32]


@dataclass(frozen=True)
class CategoricalField:
    index: int
    key: str
    categories: list[Any]
    codes: NDArray[np.int64]

    def codes_encoding(self, requested: CategoricalDtype) -> Encoding:
        """The code width: the narrowest that fits under 'auto', else the requested one. The
        dtype maximum marks a missing category, so it is no category's code."""
        n = len(self.categories)
        narrowest = OBS_CODES.narrowest(n)
        if requested == "auto":
            return narrowest
        encoding = OBS_CODES.encoding(requested)
        if n > encoding.max_value:
            raise PrepareError(
                f"obs field {self.key!r} has {n:,} categories, more than {requested} can hold; "
                f"use a wider categorical dtype ({narrowest.dtype}) or 'auto'"
            )
        return encoding

    def encoded_codes(self, encoding: Encoding) -> NDArray[np.unsignedinteger]:
        out: NDArray[np.unsignedinteger] = np.empty(self.codes.size, encoding.array_dtype)
        out.fill(encoding.max_value)
        present = self.codes >= 0
        out[present] = self.codes[present]
        return out


ObsField = ContinuousField | CategoricalField


def _json_scalar(value: Any) -> Any:
    """Category labels as JSON scalars: text, booleans and finite numbers stay; the rest is text."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _kind(series: pd.Series) -> str | None:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return "category"
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return "continuous"
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        return "category"
    return None


def _continuous(index: int, key: str, series: pd.Series) -> ContinuousField:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        count = int(np.isinf(values).sum())
        raise PrepareError(f"obs field {key!r} has {count} infinite values")
    with np.errstate(over="ignore"):
        as32 = values.astype("<f4")
    if np.isinf(as32).any():
        raise PrepareError(f"obs field {key!r} has values too large for float32")
    return ContinuousField(index, key, as32)


def _categorical(index: int, key: str, series: pd.Series) -> CategoricalField:
    try:
        categorical = (
            series if isinstance(series.dtype, pd.CategoricalDtype) else series.astype("category")
        )
    except (TypeError, ValueError) as error:
        raise PrepareError(f"obs field {key!r} cannot be read as categories ({error})") from None
    categories = [_json_scalar(c) for c in categorical.cat.categories]
    codes = categorical.cat.codes.to_numpy().astype(np.int64)
    return CategoricalField(index, key, categories, codes)


def select_obs_fields(
    obs: pd.DataFrame, requested: Sequence[str] | None, warnings: list[str]
) -> list[ObsField]:
    """The requested obs columns (default: all supported ones), in that order."""
    keys = [str(k) for k in obs.columns] if requested is None else list(requested)
    missing = [k for k in keys if k not in obs.columns]
    if missing:
        raise PrepareError(f"obs has no column {missing[0]!r} (columns: {list(obs.columns)})")
    fields: list[ObsField] = []
    for key in keys:
        series = obs[key]
        kind = _kind(series)
        if kind is None:
            if requested is not None:
                raise PrepareError(f"obs field {key!r} has unsupported dtype {series.dtype}")
            warnings.append(f"obs field {key!r} skipped: unsupported dtype {series.dtype}")
            continue
        index = len(fields)
        fields.append(
            _continuous(index, key, series)
            if kind == "continuous"
            else _categorical(index, key, series)
        )
    return fields


_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


def _hex_colour(value: Any) -> str | None:
    """'#rrggbb' (lower case) for '#rgb', '#rrggbb' or '#rrggbbaa' (alpha dropped), else None."""
    text = value.decode() if isinstance(value, bytes | np.bytes_) else str(value)
    if not _HEX.match(text):
        return None
    digits = text[1:].lower()
    return "#" + ("".join(2 * d for d in digits) if len(digits) == 3 else digits[:6])


def category_colours(
    fields: Sequence[ObsField], uns: Mapping[str, Any], warnings: list[str]
) -> dict[str, list[str]]:
    """``uns['<field>_colors']`` of each categorical field, as scanpy keeps them (one colour per
    category, in category order); a list too short or with a colour that is not hex is left
    out with a warning, as scanpy would then pick its own."""
    colours: dict[str, list[str]] = {}
    for obs_field in fields:
        key = f"{obs_field.key}_colors"
        if not isinstance(obs_field, CategoricalField) or key not in uns:
            continue
        value = uns[key]
        listed = list(np.atleast_1d(np.asarray(value, dtype=object))) if value is not None else []
        wanted = listed[: len(obs_field.categories)]
        parsed = [c for c in map(_hex_colour, wanted) if c is not None]
        if len(wanted) < len(obs_field.categories):
            n = len(obs_field.categories)
            warnings.append(f"uns[{key!r}] ignored: {len(wanted)} colours for {n} categories")
        elif len(parsed) < len(wanted):
            bad = next(v for v in wanted if _hex_colour(v) is None)
            warnings.append(f"uns[{key!r}] ignored: {bad!r} is not a #rrggbb colour")
        else:
            colours[obs_field.key] = parsed
    return colours
