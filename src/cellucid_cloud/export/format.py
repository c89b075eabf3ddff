"""The payloads of the Cellucid export format, declared once (DESIGN §3).

As anndata's ``_io/specs`` maps each encoding to its reader and writer, this module maps each
kind of payload file to its path pattern, the encodings it may hold and how it is compressed,
and each encoding to its dtype and codes. The writer (``prepare`` and the gene blocks), the
manifests, the reader, the servers and the viewer's decoder tests all take paths, dtypes,
extensions and codes from here, so adding an encoding or a kind of payload is one entry.

Every payload is a little-endian array with no header; compressed, it is one gzip member and
its name ends in ``.gz``. In a quantised kind an integer encoding holds codes ``0..max_code``
with the dtype maximum marking a missing value (the range is in the manifest); elsewhere an
integer encoding holds plain integers (categorical codes, edge indices). Free of numpy, so
that servers of export folders can import it without the scientific stack.
"""

import re
from dataclasses import dataclass
from typing import Final

GZIP_SUFFIX: Final = ".gz"


@dataclass(frozen=True)
class Encoding:
    """How the values of a payload are stored."""

    ext: str
    """Its name in paths and manifests (``u8``): ``{ext}`` in a pattern, a schema's ``ext``."""
    dtype: str
    """Its name as a manifest's ``dtype`` and as numpy's (``uint8``)."""
    array_dtype: str
    """The numpy dtype of the payload's bytes (``<u1``)."""

    @property
    def is_float(self) -> bool:
        return self.dtype.startswith("float")

    @property
    def bits(self) -> int:
        return 8 * int(self.array_dtype[2:])

    @property
    def max_value(self) -> int:
        """The largest integer the encoding holds; as a code, the missing value."""
        return (1 << self.bits) - 1

    @property
    def max_code(self) -> int:
        """The largest code of a quantised value (the next one marks a missing value)."""
        return self.max_value - 1

    @property
    def quantization(self) -> int:
        """This encoding as a quantisation setting: 0 for float32, else its bits."""
        return 0 if self.is_float else self.bits


FLOAT32: Final = Encoding("f32", "float32", "<f4")
FLOAT64: Final = Encoding("f64", "float64", "<f8")
UINT8: Final = Encoding("u8", "uint8", "<u1")
UINT16: Final = Encoding("u16", "uint16", "<u2")
UINT32: Final = Encoding("u32", "uint32", "<u4")

ENCODINGS: Final[dict[str, Encoding]] = {
    e.ext: e for e in (FLOAT32, FLOAT64, UINT8, UINT16, UINT32)
}
"""Every encoding by its ``ext``."""
QUANTISED: Final = (UINT8, UINT16)
"""The encodings of quantised values (``quantize.py`` computes their codes)."""


def fill(pattern: str, **fields: object) -> str:
    """``pattern`` with each ``{name}`` replaced. str.replace, not str.format: a pattern read
    from a manifest must not be able to index attributes."""
    for name, value in fields.items():
        pattern = pattern.replace("{" + name + "}", str(value))
    return pattern


def gz_name(path: str, compression: int) -> str:
    """A payload's file name: ``path``, with ``.gz`` when compressed (``compression`` > 0)."""
    return path + GZIP_SUFFIX if compression else path


@dataclass(frozen=True)
class PayloadKind:
    """One kind of payload file: where it lives, what it may hold, how it is compressed."""

    name: str
    pattern: str
    """Its path in the export before ``.gz``; ``{ext}`` is its encoding's, the other fields
    (``{index}``…) are filled per payload."""
    encodings: tuple[Encoding, ...]
    """What it may hold, narrowest first."""
    quantised: bool = False
    """Integer encodings hold quantised values (codes of a range kept in the manifest)."""
    column: bool = False
    """Compressed as a column: run-length deflate only. Other payloads keep the smaller of
    run-length and LZ77 deflate (``gzip_codec``)."""

    @property
    def folder(self) -> str:
        """The folder of this kind's payloads in an export."""
        return self.pattern.rpartition("/")[0]

    @property
    def sole_encoding(self) -> Encoding:
        """The encoding of a kind that has only one."""
        [encoding] = self.encodings
        return encoding

    def encoding(self, dtype: str) -> Encoding:
        """This kind's encoding of ``dtype`` (as a manifest names it: ``uint8``); KeyError if
        the kind has none."""
        for encoding in self.encodings:
            if encoding.dtype == dtype:
                return encoding
        raise KeyError(dtype)

    def for_quantization(self, bits: int) -> Encoding:
        """The encoding of a quantisation setting (0: float32)."""
        return next(e for e in self.encodings if e.quantization == bits)

    def narrowest(self, largest: int) -> Encoding:
        """The narrowest integer encoding that holds ``largest``."""
        return next(e for e in self.encodings if not e.is_float and largest <= e.max_value)

    def manifest_pattern(self, encoding: Encoding | None, compression: int) -> str:
        """The pattern a manifest declares: ``{ext}`` filled unless ``encoding`` is None (the
        manifest names each payload's encoding), ``.gz`` when compressed."""
        pattern = self.pattern if encoding is None else fill(self.pattern, ext=encoding.ext)
        return gz_name(pattern, compression)

    def path(self, encoding: Encoding | None = None, compression: int = 0, **fields: object) -> str:
        """One payload's path; ``encoding`` may be left out when the path does not name it."""
        if encoding is None and "{ext}" in self.pattern:
            raise ValueError(f"the path of {self.name} payloads names their encoding")
        if encoding is not None and encoding not in self.encodings:
            raise ValueError(f"{self.name} payloads are not {encoding.dtype}")
        ext = encoding.ext if encoding is not None else ""
        return gz_name(fill(self.pattern, ext=ext, **fields), compression)

    def matcher(self, encoding: Encoding, compression: int = 0) -> re.Pattern[str]:
        """A regular expression of this kind's paths in ``encoding``; ``index`` is a group."""
        literal = re.escape(self.manifest_pattern(encoding, compression))
        return re.compile("^" + literal.replace(re.escape("{index}"), r"(?P<index>\d+)") + "$")


EMBEDDING: Final = PayloadKind("embedding", "embeddings/{index}_{dimension}d.bin", (FLOAT32,))
"""Coordinates (cells, dimension), row-major, normalised to [-1, 1]."""
VECTORS: Final = PayloadKind("vectors", "vectors/{field}_{embedding}.bin", (FLOAT32,))
"""A vector field on one embedding, shaped and scaled like that embedding."""
OBS_VALUES: Final = PayloadKind(
    "obs values", "obs/{index}.values.{ext}", (FLOAT32, *QUANTISED), quantised=True
)
"""A continuous obs field, one value per cell."""
OBS_CODES: Final = PayloadKind("obs codes", "obs/{index}.codes.{ext}", (UINT8, UINT16, UINT32))
"""A categorical obs field's category per cell; the dtype maximum marks a missing value."""
OBS_OUTLIERS: Final = PayloadKind(
    "obs outliers", "obs/{index}.outliers.{ext}", (FLOAT32, *QUANTISED), quantised=True
)
"""Per cell, the latent-distance quantile within its category of a categorical field."""
GENE_VALUES: Final = PayloadKind(
    "gene values", "var/{index}.values.{ext}", (FLOAT32, *QUANTISED), quantised=True, column=True
)
"""One gene's value per cell: one file per gene."""
EDGE_SOURCES: Final = PayloadKind("edge sources", "connectivity/edges.src.bin", (UINT16, UINT32))
"""The kNN graph's upper-triangle edges sorted by (source, destination): their sources."""
EDGE_DESTINATIONS: Final = PayloadKind(
    "edge destinations", "connectivity/edges.dst.bin", (UINT16, UINT32)
)
EDGE_WEIGHTS: Final = PayloadKind("edge weights", "connectivity/edges.weights.f64.bin", (FLOAT64,))

KINDS: Final = (
    EMBEDDING,
    VECTORS,
    OBS_VALUES,
    OBS_CODES,
    OBS_OUTLIERS,
    GENE_VALUES,
    EDGE_SOURCES,
    EDGE_DESTINATIONS,
    EDGE_WEIGHTS,
)
"""Every kind of payload an export may hold."""
