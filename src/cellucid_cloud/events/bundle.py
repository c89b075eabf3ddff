"""``.cellucid-session`` files (research notes §4.4): validate one, and read its chunks.

Framing: magic (``CELLUCID_SESSION\\n`` for v1, ``CELLUCID_SESSION/2\\n`` for v2), a u32 LE
manifest length, the manifest JSON, then one u32-length-prefixed chunk per manifest entry, in
manifest order, eager before lazy, and nothing after. Parsing checks all of it, decodes gzip
chunks to their declared size and JSON chunks as JSON, so a stored bundle is always readable.
"""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from cellucid_cloud.events.wire import WireError

__all__ = ["SESSION_MAGIC_V1", "SESSION_MAGIC_V2", "SessionBundle"]

SESSION_MAGIC_V1 = b"CELLUCID_SESSION\n"
SESSION_MAGIC_V2 = b"CELLUCID_SESSION/2\n"
_CHUNK_KEYS = {"id", "priority", "kind", "codec", "storedBytes", "uncompressedBytes"}
_MANIFEST_KEYS = {
    1: {"createdAt", "datasetFingerprint", "chunks"},
    2: {"createdAt", "datasetFingerprint", "source", "requires", "chunks"},
}


@dataclass(frozen=True)
class SessionBundle:
    version: int
    manifest: dict[str, Any]
    data: bytes
    offsets: dict[str, tuple[int, int]]
    """Chunk id → (start, stop) of its stored bytes in ``data``."""

    @property
    def size(self) -> int:
        return len(self.data)

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
        if data.startswith(SESSION_MAGIC_V2):
            version, offset = 2, len(SESSION_MAGIC_V2)
        elif data.startswith(SESSION_MAGIC_V1):
            version, offset = 1, len(SESSION_MAGIC_V1)
        else:
            raise WireError("not a .cellucid-session file (bad magic)")
        manifest_len, offset = _u32(data, offset, "manifest length")
        if offset + manifest_len > len(data):
            raise WireError("manifest length runs past the end of the file")
        try:
            manifest = json.loads(data[offset : offset + manifest_len])
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise WireError(f"manifest is not JSON: {exc}") from None
        offset += manifest_len
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
            stored, offset = _u32(data, offset, f"chunk {index} length")
            if stored != chunk["storedBytes"] or offset + stored > len(data):
                raise WireError(f"chunk {index}: stored length {stored} does not match")
            _check_payload(index, chunk, data[offset : offset + stored])
            offsets[chunk["id"]] = (offset, offset + stored)
            offset += stored
        if offset != len(data):
            raise WireError(f"{len(data) - offset} trailing bytes after the last chunk")
        return cls(version, manifest, data, offsets)


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


def _check_payload(index: int, chunk: dict[str, Any], payload: bytes) -> None:
    if chunk["codec"] == "gzip":
        try:
            payload = gzip.decompress(payload)
        except (OSError, EOFError, zlib.error) as exc:
            raise WireError(f"chunk {index}: gzip does not decode: {exc}") from None
    if len(payload) != chunk["uncompressedBytes"]:
        raise WireError(
            f"chunk {index}: decodes to {len(payload)} bytes, the manifest says "
            f"{chunk['uncompressedBytes']}"
        )
    if chunk["kind"] == "json":
        try:
            json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise WireError(f"chunk {index}: kind json but not JSON") from None


def _u32(data: bytes, offset: int, what: str) -> tuple[int, int]:
    if offset + 4 > len(data):
        raise WireError(f"file ends before the {what}")
    return int(struct.unpack_from("<I", data, offset)[0]), offset + 4
