"""Deterministic gzip members for export payloads, built with zlib-ng.

Measured in benchmarks/deflate_bench.py (docs/benchmarks.md): on quantised and float gene
columns zlib-ng's run-length strategy (Z_RLE) is both the fastest and the smallest of zlib,
zlib-ng, libdeflate and ISA-L at level 6, because those payloads are mostly runs of one byte plus
high-entropy literals. Payloads with longer repeats (sorted edge indices, clustered codes) can
gain from LZ77 matching, so small payloads are compressed both ways and the smaller kept.
zlib-ng writes the header with mtime 0 and no file name; its XFL and OS bytes are replaced with
the ones Python's gzip and the reference exporter write (00, ff) so that the header is the same
whichever machine built the export (the header is outside the CRC). zlib-ng releases the GIL,
so a thread pool uses both cores.
"""

from typing import Final

from zlib_ng import zlib_ng

from .format import PayloadKind

_GZIP_WBITS: Final = 16 + 15
_TRY_BOTH_BELOW: Final = 8 << 20
_HEADER: Final = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def _gzip(data: bytes | memoryview, level: int, strategy: int) -> bytes:
    compressor = zlib_ng.compressobj(level, zlib_ng.DEFLATED, _GZIP_WBITS, 9, strategy)
    member = compressor.compress(data) + compressor.flush()
    return _HEADER + member[len(_HEADER) :]


def gzip_column(data: bytes | memoryview, level: int) -> bytes:
    """Compress one gene or obs column: run-length deflate, the measured winner."""
    return _gzip(data, level, zlib_ng.Z_RLE)


def gzip_payload(data: bytes | memoryview, level: int) -> bytes:
    """Compress any payload, trying LZ77 as well when it is small enough to afford it."""
    rle = _gzip(data, level, zlib_ng.Z_RLE)
    if len(data) > _TRY_BOTH_BELOW:
        return rle
    lz = _gzip(data, level, zlib_ng.Z_DEFAULT_STRATEGY)
    return lz if len(lz) < len(rle) else rle


def gzip_member(kind: PayloadKind, data: bytes | memoryview, level: int) -> bytes:
    """A payload of ``kind`` compressed as the format declares it: columns run-length only."""
    return gzip_column(data, level) if kind.column else gzip_payload(data, level)
