"""What viewers may post: exact event shapes, binary selections, session bundles."""

from __future__ import annotations

import gzip
import json
import struct
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cellucid_cloud.catalog.meta import MetaService
from cellucid_cloud.catalog.service import CatalogService
from cellucid_cloud.catalog.sqlite_repository import SqliteCatalogRepository
from cellucid_cloud.events.bundle import (
    MAX_JSON_CHUNK_BYTES,
    SESSION_MAGIC_V2,
    SessionBundle,
    check_bundle,
)
from cellucid_cloud.events.models import Viewer
from cellucid_cloud.events.service import EventsService
from cellucid_cloud.events.sqlite_store import SqliteEventStore
from cellucid_cloud.events.wire import MAX_EVENT_BYTES, WireError, parse_event, parse_selection
from cellucid_cloud.storage.filesystem import FilesystemObjectStore
from tests.session_bundles import make_bundle

CREDS = {"viewerId": "v", "viewerToken": "t"}
VALID: list[dict[str, Any]] = [
    {"type": "ready", "n_cells": 10, "dimensions": 2},
    {"type": "hover", "cell": 3, "position": {"x": 1.0, "y": 2, "z": 0.5}},
    {"type": "hover", "cell": None, "position": None},
    {"type": "click", "cell": 4, "button": 0, "shift": False, "ctrl": True},
    {"type": "pong", "requestId": "r1", "t": 12},
    {
        "type": "debug_snapshot",
        "requestId": "r",
        "ts": 1.5,
        "locationHref": "https://h/e/x/",
        "origin": "https://h",
        "serverUrl": "https://h",
        "connected": True,
        "userAgent": None,
    },
    {"type": "command_error", "command": "setColorBy", "reason": "no such field"},
    {"type": "data_mapping", "requestId": None, "origin": "default", "mapping": {"kind": "x"}},
    {"type": "data_mapping", "requestId": "r", "origin": "notebook", "mapping": {}},
]


@pytest.mark.parametrize("event", VALID, ids=lambda e: str(e["type"]))
def test_valid_events_pass_without_credentials(event: dict[str, Any]) -> None:
    viewer_id, token, payload = parse_event(json.dumps({**event, **CREDS}).encode())
    assert (viewer_id, token) == ("v", "t")
    assert payload["type"] == event["type"]
    assert "viewerToken" not in payload


@pytest.mark.parametrize(
    "event",
    [
        {"type": "ready", "n_cells": 10},  # a key missing
        {"type": "ready", "n_cells": 10, "dimensions": 2, "extra": 1},  # a key too many
        {"type": "ready", "n_cells": -1, "dimensions": 2},
        {"type": "ready", "n_cells": "10", "dimensions": 2},  # no coercion
        {"type": "ready", "n_cells": 10, "dimensions": 4},
        {"type": "click", "cell": 1, "button": 3, "shift": False, "ctrl": False},
        {"type": "click", "cell": 1, "button": 0, "shift": 0, "ctrl": False},
        {"type": "command_error", "command": "rm -rf", "reason": "x"},
        {"type": "command_error", "command": "freeze", "reason": "x" * 501},
        {"type": "data_mapping", "requestId": "r", "origin": "user", "mapping": {}},
        {"type": "data_mapping", "requestId": None, "origin": "notebook", "mapping": {}},
        {"type": "selection", "cells": [1]},
        {"type": "session_bundle", "requestId": "r"},
        {"type": "nope"},
        {"n_cells": 1},
    ],
)
def test_anything_else_is_refused(event: dict[str, Any]) -> None:
    with pytest.raises(WireError):
        parse_event(json.dumps({**event, **CREDS}).encode())


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b"\xff\xfe", b'{"type": "ready"', b" " * (MAX_EVENT_BYTES + 1)]
)
def test_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(WireError):
        parse_event(body)


def test_selections_are_ascending_in_range_u32() -> None:
    cells = parse_selection(np.array([0, 2, 9], "<u4").tobytes(), n_cells=10)
    assert cells.tolist() == [0, 2, 9]
    for bad in (
        np.array([2, 2], "<u4").tobytes(),
        np.array([3, 1], "<u4").tobytes(),
        np.array([10], "<u4").tobytes(),
        b"\x01\x00\x00",
    ):
        with pytest.raises(WireError):
            parse_selection(bad, n_cells=10)


@pytest.mark.parametrize("version", [1, 2])
def test_bundles_round_trip(version: int) -> None:
    bundle = SessionBundle.parse(make_bundle(version))
    assert bundle.version == version
    assert bundle.chunk_ids() == ["core/state", "highlights/cells/1"]
    assert bundle.decode_chunk("core/state") == {"colorBy": "cell_type"}
    assert bundle.decode_chunk("highlights/cells/1") == b"\x00\x03\x01\x01"


def corrupt(data: bytes, how: str) -> bytes:
    head_len = struct.unpack_from("<I", data, len(b"CELLUCID_SESSION/2\n"))[0]
    first_chunk = len(b"CELLUCID_SESSION/2\n") + 4 + head_len
    match how:
        case "magic":
            return b"X" + data[1:]
        case "truncated":
            return data[:-1]
        case "trailing":
            return data + b"\x00"
        case "manifest-length":
            return data[:19] + struct.pack("<I", 10**6) + data[23:]
        case "chunk-length":
            return data[:first_chunk] + struct.pack("<I", 1) + data[first_chunk + 4 :]
        case "gzip":
            return data[: first_chunk + 4] + b"\x00" * 4 + data[first_chunk + 8 :]
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how", ["magic", "truncated", "trailing", "manifest-length", "chunk-length", "gzip"]
)
def test_broken_bundles_are_refused(how: str) -> None:
    with pytest.raises(WireError):
        SessionBundle.parse(corrupt(make_bundle(2), how))


def test_manifest_keys_are_exact() -> None:
    data = make_bundle(2, chunks=[])
    assert SessionBundle.parse(data).chunk_ids() == []
    with pytest.raises(WireError):
        SessionBundle.parse(data.replace(b'"source"', b'"sourcX"'))


def _one_chunk(stored: bytes, declared: int, kind: str = "binary", codec: str = "gzip") -> bytes:
    """A v2 bundle of one chunk whose manifest declares ``declared`` uncompressed bytes."""
    entry = {
        "id": "c",
        "priority": "eager",
        "kind": kind,
        "codec": codec,
        "storedBytes": len(stored),
        "uncompressedBytes": declared,
    }
    manifest = {
        "createdAt": "2026-11-23T08:00:00.000Z",
        "datasetFingerprint": {},
        "source": None,
        "requires": {},
        "chunks": [entry],
    }
    head = json.dumps(manifest).encode()
    return (
        SESSION_MAGIC_V2
        + struct.pack("<I", len(head))
        + head
        + struct.pack("<I", len(stored))
        + stored
    )


def test_a_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(bytes(256 << 20), 9)  # 256 MiB of zeros in ~260 kB
    tracemalloc.start()
    try:
        with pytest.raises(WireError, match="decodes to more than 1000 bytes"):
            SessionBundle.parse(_one_chunk(bomb, 1000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"checking inflated {peak} bytes"


def incompressible_bundle(path: Path, size: int = 64 << 20) -> Path:
    """A valid bundle of one binary chunk of ``size`` random bytes: that large on disk too."""
    path.write_bytes(_one_chunk(np.random.default_rng(0).bytes(size), size, codec="none"))
    return path


@pytest.mark.parametrize("codec", ["none", "gzip"])
def test_a_large_bundle_is_checked_as_a_stream_in_bounded_memory(
    tmp_path: Path, codec: str
) -> None:
    """64 MiB of random bytes stored as they are, or gzipped (which does not shrink them):
    the file itself is over 64 MiB, and checking it holds under 8 MiB."""
    raw = np.random.default_rng(0).bytes(64 << 20)
    stored = raw if codec == "none" else gzip.compress(raw, 1)
    path = tmp_path / "big.cellucid-session"
    path.write_bytes(_one_chunk(stored, len(raw), codec=codec))
    del raw, stored
    assert path.stat().st_size > 64 << 20
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            frame = check_bundle(stream)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert frame.size == path.stat().st_size
    assert frame.version == 2
    assert peak < 8 << 20, f"checking held {peak} bytes"


def test_a_large_bundle_uploaded_locally_is_stored_in_bounded_memory(tmp_path: Path) -> None:
    """``up``'s path for a bundle PUT through an upload URL: checked, then moved from the
    uploads folder into the sessions store, holding under 8 MiB of a 64 MiB bundle."""
    uploads = FilesystemObjectStore(tmp_path / "uploads")
    sessions = FilesystemObjectStore(tmp_path / "exports")
    repository = SqliteCatalogRepository(tmp_path / "catalog.sqlite3")
    meta = MetaService(
        CatalogService(repository), sessions, "http://127.0.0.1", ttl=0, clock=lambda: 0.0
    )
    store = SqliteEventStore(tmp_path / "events.sqlite3")
    service = EventsService(store, sessions, meta)
    viewer = Viewer(
        viewer_id="v1",
        token_hash="0" * 64,
        curator_id="c",
        dataset_id="d",
        dataset_version_id="dv",
        n_cells=10,
        created_at=datetime.now(UTC),
        expires_at=int(time.time()) + 3600,
    )
    store.put_viewer(viewer)
    key = "sessions/v1/big.cellucid-session"
    uploads.path(key).parent.mkdir(parents=True)
    size = incompressible_bundle(uploads.path(key)).stat().st_size
    tracemalloc.start()
    try:
        record = service.validate_upload(key, uploads, in_place=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert record is not None and record.bytes == size
    assert sessions.path(key).stat().st_size == size
    assert not uploads.path(key).exists()
    assert peak < 8 << 20, f"storing held {peak} bytes"


@pytest.mark.parametrize(
    ("stored", "declared", "kind", "problem"),
    [
        (gzip.compress(b"[1,") + gzip.compress(b"2]"), 5, "json", None),  # two gzip members
        (gzip.compress(b"hello")[:10], 5, "binary", "cut short"),
        (gzip.compress(b"hello")[:-3], 5, "binary", "cut short"),
        (gzip.compress(b"hello") + b"\0\0", 5, "binary", "does not decode"),
        (gzip.compress(b"hello"), 6, "binary", "decodes to 5 bytes"),
        (b"", 0, "binary", None),
        (gzip.compress(b"x" * 10), MAX_JSON_CHUNK_BYTES + 1, "json", "JSON chunk of"),
    ],
    # Named, not by their bytes: gzip stamps the time, and workers must collect the same ids.
    ids=[
        "two-members",
        "header-only",
        "cut-short",
        "trailing-bytes",
        "wrong-size",
        "empty",
        "json-cap",
    ],
)
def test_gzip_chunks_decode_exactly_to_their_declared_size(
    stored: bytes, declared: int, kind: str, problem: str | None
) -> None:
    data = _one_chunk(stored, declared, kind)
    if problem is None:
        assert SessionBundle.parse(data).chunk_ids() == ["c"]
    else:
        with pytest.raises(WireError, match=problem):
            SessionBundle.parse(data)
