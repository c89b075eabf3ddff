"""``.cellucid-session`` files built in the tests (no binary blobs in the repository)."""

from __future__ import annotations

import gzip
import json
import struct
from typing import Any

from cellucid_cloud.events.bundle import SESSION_MAGIC_V1, SESSION_MAGIC_V2


def make_bundle(version: int = 2, chunks: list[tuple[str, Any, str]] | None = None) -> bytes:
    """A valid bundle; ``chunks`` are (id, JSON value or bytes, codec)."""
    chunks = (
        chunks
        if chunks is not None
        else [
            ("core/state", {"colorBy": "cell_type"}, "gzip"),
            ("highlights/cells/1", b"\x00\x03\x01\x01", "none"),
        ]
    )
    entries, payloads = [], []
    for chunk_id, value, codec in chunks:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        stored = gzip.compress(raw) if codec == "gzip" else raw
        entries.append(
            {
                "id": chunk_id,
                "contributorId": chunk_id.split("/")[0],
                "priority": "eager",
                "kind": "binary" if isinstance(value, bytes) else "json",
                "codec": codec,
                "label": chunk_id,
                "datasetDependent": True,
                "storedBytes": len(stored),
                "uncompressedBytes": len(raw),
            }
        )
        payloads.append(stored)
    fingerprint = {"datasetId": "d", "name": "D", "cellCount": 10, "varCount": 5}
    manifest: dict[str, Any] = {
        "createdAt": "2026-11-23T08:00:00.000Z",
        "datasetFingerprint": fingerprint,
        "chunks": entries,
    }
    if version == 2:
        manifest |= {"source": None, "requires": {"obs": [], "var": []}}
    head = json.dumps(manifest).encode()
    magic = SESSION_MAGIC_V2 if version == 2 else SESSION_MAGIC_V1
    body = b"".join(struct.pack("<I", len(p)) + p for p in payloads)
    return magic + struct.pack("<I", len(head)) + head + body
