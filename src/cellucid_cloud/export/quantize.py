"""The continuous-value codec of the Cellucid export format (DESIGN §3).

Writer and reader share these functions so their arithmetic cannot drift apart: codes are
``floor((v - min) * maxQ / (max - min) + 1e-8)`` clipped to ``[0, maxQ]``, computed in float64;
the dtype maximum marks a missing value; equal bounds give all-zero codes. The encodings and
their codes are declared in :mod:`.format`.
"""

from typing import Final, Literal, cast

import numpy as np
from numpy.typing import NDArray

from .format import QUANTISED

Bits = Literal[8, 16]


def bits_of(setting: int) -> Bits | None:
    """A quantisation setting (0, 8 or 16) as bits; None for 0, float32 values."""
    return None if setting == 0 else cast(Bits, setting)


MAX_CODE: Final[dict[int, int]] = {e.bits: e.max_code for e in QUANTISED}
MISSING_CODE: Final[dict[int, int]] = {e.bits: e.max_value for e in QUANTISED}
CODE_DTYPE: Final[dict[int, np.dtype[np.unsignedinteger]]] = {
    e.bits: np.dtype(e.array_dtype) for e in QUANTISED
}
_EPSILON: Final = 1e-8


def finite_bounds(values: NDArray[np.float32]) -> tuple[float, float]:
    """Min and max over the finite values; (0, 0) when there is none (every code is missing)."""
    finite = values[np.isfinite(values)] if not np.isfinite(values).all() else values
    if finite.size == 0:
        return 0.0, 0.0
    return float(finite.min()), float(finite.max())


def code_scale(vmin: float, vmax: float, bits: Bits) -> float:
    """Codes per unit of value; 0 for a constant field so nothing ever divides by zero."""
    return 0.0 if vmax == vmin else MAX_CODE[bits] / (vmax - vmin)


def quantize(
    values: NDArray[np.floating], vmin: float, vmax: float, bits: Bits
) -> NDArray[np.unsignedinteger]:
    """Encode finite values into codes and NaN into the missing code."""
    scale = code_scale(vmin, vmax, bits)
    with np.errstate(invalid="ignore"):
        codes = quantize_with_per_item_bounds(values, vmin, scale, bits)
    nan = np.isnan(values)
    if nan.any():
        codes[nan] = MISSING_CODE[bits]
    return codes


def quantize_with_per_item_bounds(
    values: NDArray[np.floating],
    vmin: float | NDArray[np.float64],
    scale: float | NDArray[np.float64],
    bits: Bits,
    work: NDArray[np.float64] | None = None,
) -> NDArray[np.unsignedinteger]:
    """Encode finite values; bounds may be scalars or differ per element (genes of a block).

    A zero scale (constant field) gives code 0 without dividing by anything. ``work``, at least
    as long as ``values``, holds the float64 intermediate instead of a new array, so that a
    caller encoding many small batches keeps one buffer in cache.
    """
    if work is None:
        scaled = values.astype(np.float64)
    else:
        scaled = work[: values.size]
        np.copyto(scaled, values)
    scaled -= vmin
    scaled *= scale
    scaled += _EPSILON
    np.floor(scaled, out=scaled)
    np.clip(scaled, 0, MAX_CODE[bits], out=scaled)
    return scaled.astype(CODE_DTYPE[bits])


def dequantize(
    codes: NDArray[np.unsignedinteger], vmin: float, vmax: float, bits: Bits
) -> NDArray[np.float32]:
    """Decode codes the way the viewer does; the missing code becomes NaN."""
    values = vmin + codes.astype(np.float64) * ((vmax - vmin) / MAX_CODE[bits])
    values[codes == MISSING_CODE[bits]] = np.nan
    return values.astype(np.float32)
