"""``.cellucid-session`` files (research notes §4.4): validate one, and read its chunks.

Framing: magic (``CELLUCID_SESSION\\n`` for v1, ``CELLUCID_SESSION/2\\n`` for v2), a u32 LE
manifest length, the manifest JSON, then one u32-length-prefixed chunk per manifest entry, in
manifest order, eager before lazy, and nothing after. Checking covers all of it, decodes gzip
chunks to their declared size and JSON chunks as JSON, so a stored bundle is always readable.

Checking reads a stream once, front to back, holding at most one piece of a binary chunk, the
manifest, and one JSON chunk: a 2 GiB bundle uploaded through a URL is checked in a function
of modest memory, and a gzip chunk is inflated only up to the size its manifest declares (one
byte more is an error), so a small bundle cannot inflate to gigabytes.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from cellucid_cloud.events.wire import WireError, load_json

__all__ = [
    "MAX_JSON_CHUNK_BYTES",
    "MAX_MANIFEST_BYTES",
    "SESSION_MAGIC_V1",
    "SESSION_MAGIC_V2",
    "BundleFrame",
    "SessionBundle",
    "check_bundle",
]

SESSION_MAGIC_V1 = b"CELLUCID_SESSION\n"
SESSION_MAGIC_V2 = b"CELLUCID_SESSION/2\n"
MAX_MANIFEST_BYTES = 16 * 1024**2
MAX_JSON_CHUNK_BYTES = 64 * 1024**2
"""JSON chunks carry viewer state; bulk data (cell lists) travels in binary chunks."""
PIECE_BYTES = 1024**2
_CHUNK_KEYS = {"id", "priority", "kind", "codec", "storedBytes", "uncompressedBytes"}
_MANIFEST_KEYS = {
    1: {"createdAt", "datasetFingerprint", "chunks"},
    2: {"createdAt", "datasetFingerprint", "source", "requires", "chunks"},
}


@dataclass(frozen=True)
class BundleFrame:
    """What checking a bundle learned: its version, manifest, size and where chunks sit."""

    version: int
    manifest: dict[str, Any]
    size: int
    offsets: dict[str, tuple[int, int]]
    """Chunk id → (start, stop) of its stored bytes in the file."""


def check_bundle(stream: BinaryIO) -> BundleFrame:
    """Validate the bundle ``stream`` holds, reading it once; :class:`WireError` says what is
    wrong."""
    reader = _Reader(stream)
    version = _version(reader)
    manifest_len = _u32(reader, "manifest length")
    if manifest_len > MAX_MANIFEST_BYTES:
        raise WireError(f"manifest of {manifest_len} bytes (at most {MAX_MANIFEST_BYTES})")
    raw = reader.exactly(manifest_len, "end of the manifest (manifest length runs past it)")
    manifest = load_json(raw, "the manifest")
    if not isinstance(manifest, dict) or set(manifest) != _MANIFEST_KEYS[version]:
        keys = sorted(manifest) if isinstance(manifest, dict) else type(manifest).__name__
        raise WireError(f"manifest keys {keys} != {sorted(_MANIFEST_KEYS[version])}")
    chunks = manifest["chunks"]
    if not isinstance(chunks, list):
        raise WireError("manifest chunks must be a list")
    offsets: dict[str, tuple[int, int]] = {}
    seen_lazy = False
    for index, chunk in enumerate(chunks):
        _check_entry(index, chunk, offsets)
        seen_lazy = seen_lazy or chunk["priority"] == "lazy"
        if seen_lazy and chunk["priority"] == "eager":
            raise WireError(f"chunk {index}: eager chunks must come before lazy ones")
        stored = _u32(reader, f"chunk {index} length")
        if stored != chunk["storedBytes"]:
            raise WireError(f"chunk {index}: stored length {stored} does not match")
        start = reader.offset
        _check_payload(index, chunk, reader.pieces(stored, f"end of chunk {index}"))
        offsets[chunk["id"]] = (start, reader.offset)
    if stream.read(1):
        raise WireError("trailing bytes after the last chunk")
    return BundleFrame(version, manifest, reader.offset, offsets)


@dataclass(frozen=True)
class SessionBundle(BundleFrame):
    """A checked bundle held in memory (a post, a download), its chunks decoded on demand;
    ``offsets`` index ``data``."""

    data: bytes

    @property
    def chunks(self) -> list[dict[str, Any]]:
        return list(self.manifest["chunks"])

    @property
    def dataset_fingerprint(self) -> dict[str, Any]:
        return dict(self.manifest["datasetFingerprint"])

    def chunk_ids(self) -> list[str]:
        return [str(c["id"]) for c in self.chunks]

    def chunk_meta(self, chunk_id: str) -> dict[str, Any]:
        for chunk in self.chunks:
            if chunk["id"] == chunk_id:
                return dict(chunk)
        raise KeyError(chunk_id)

    def chunk_bytes(self, chunk_id: str) -> bytes:
        """A chunk's bytes, uncompressed."""
        start, stop = self.offsets[chunk_id]
        payload = self.data[start:stop]
        return gzip.decompress(payload) if self.chunk_meta(chunk_id)["codec"] == "gzip" else payload

    def decode_chunk(self, chunk_id: str) -> Any:
        """A JSON chunk as its value; a binary chunk as bytes."""
        payload = self.chunk_bytes(chunk_id)
        return json.loads(payload) if self.chunk_meta(chunk_id)["kind"] == "json" else payload

    @classmethod
    def parse(cls, data: bytes) -> SessionBundle:
        """Validate ``data`` completely; :class:`WireError` says what is wrong."""
        frame = check_bundle(io.BytesIO(data))
        return cls(frame.version, frame.manifest, frame.size, frame.offsets, data)


def _check_entry(index: int, chunk: Any, offsets: dict[str, tuple[int, int]]) -> None:
    if not isinstance(chunk, dict) or not set(chunk) >= _CHUNK_KEYS:
        raise WireError(f"chunk {index}: needs {sorted(_CHUNK_KEYS)}")
    if not isinstance(chunk["id"], str) or chunk["id"] in offsets:
        raise WireError(f"chunk {index}: ids are unique strings")
    if chunk["priority"] not in ("eager", "lazy") or chunk["codec"] not in ("none", "gzip"):
        raise WireError(f"chunk {index}: bad priority or codec")
    if chunk["kind"] not in ("json", "binary"):
        raise WireError(f"chunk {index}: kind must be json or binary")
    for size in ("storedBytes", "uncompressedBytes"):
        if not isinstance(chunk[size], int) or isinstance(chunk[size], bool) or chunk[size] < 0:
            raise WireError(f"chunk {index}: {size} must be a non-negative integer")


def _check_payload(index: int, chunk: dict[str, Any], pieces: Iterator[bytes]) -> None:
    declared = chunk["uncompressedBytes"]
    is_json = chunk["kind"] == "json"
    if is_json and declared > MAX_JSON_CHUNK_BYTES:
        raise WireError(
            f"chunk {index}: a JSON chunk of {declared} bytes (at most {MAX_JSON_CHUNK_BYTES})"
        )
    decoded = _inflate(index, pieces, declared) if chunk["codec"] == "gzip" else pieces
    kept = bytearray()
    size = 0
    for piece in decoded:
        size += len(piece)
        if size > declared:
            break
        if is_json:
            kept += piece
    if size != declared:
        decoded_size = f"more than {declared}" if size > declared else str(size)
        raise WireError(
            f"chunk {index}: decodes to {decoded_size} bytes, the manifest says {declared}"
        )
    if is_json:
        load_json(kept, f"chunk {index} (kind json)")


def _inflate(index: int, pieces: Iterator[bytes], declared: int) -> Iterator[bytes]:
    """The gzip members in ``pieces`` decoded, at most :data:`PIECE_BYTES` at a time, stopping
    once past ``declared`` bytes: the caller refuses the chunk then, without inflating more."""
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    started = False  # the current member has had input
    produced = 0
    try:
        for piece in pieces:
            pending = piece
            while pending and produced <= declared:
                started = True
                out = decoder.decompress(pending, PIECE_BYTES)
                produced += len(out)
                yield out
                pending = decoder.unconsumed_tail
                if decoder.eof:  # concatenated gzip members, as gzip.decompress accepts
                    pending = decoder.unused_data
                    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    started = False
            if produced > declared:
                return
    except zlib.error as exc:
        raise WireError(f"chunk {index}: gzip does not decode: {exc}") from None
    if started and not decoder.eof:
        raise WireError(f"chunk {index}: gzip does not decode: the stream is cut short")


class _Reader:
    """Sequential reads that know their offset and say what a short read cut off."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.offset = 0

    def exactly(self, count: int, what: str) -> bytes:
        return b"".join(self.pieces(count, what))

    def pieces(self, count: int, what: str) -> Iterator[bytes]:
        left = count
        while left:
            piece = self.stream.read(min(left, PIECE_BYTES))
            if not piece:
                raise WireError(f"file ends before the {what}")
            self.offset += len(piece)
            left -= len(piece)
            yield piece


def _version(reader: _Reader) -> int:
    start = reader.stream.read(len(SESSION_MAGIC_V1))
    reader.offset += len(start)
    if start == SESSION_MAGIC_V1:
        return 1
    if start == SESSION_MAGIC_V2[: len(start)] and len(start) == len(SESSION_MAGIC_V1):
        rest = reader.stream.read(len(SESSION_MAGIC_V2) - len(start))
        reader.offset += len(rest)
        if start + rest == SESSION_MAGIC_V2:
            return 2
    raise WireError("not a .cellucid-session file (bad magic)")


def _u32(reader: _Reader, what: str) -> int:
    return int(struct.unpack("<I", reader.exactly(4, what))[0])
