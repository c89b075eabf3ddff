"""Viewer events and session bundles through ``up``, followed by the Python ``Viewer``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from cellucid_cloud.client import CurationClient, Viewer
from cellucid_cloud.events.service import MAX_DIRECT_BUNDLE_BYTES
from tests.export_data import make_adata
from tests.local_up import Up, running_up
from tests.session_bundles import make_bundle

N_CELLS = 60


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Up, CurationClient, str]]:
    root = tmp_path_factory.mktemp("events")
    h5ad = root / "d.h5ad"
    make_adata(n_cells=N_CELLS, n_genes=10).write_h5ad(h5ad)
    with running_up(root / "data") as up, CurationClient(up.base_url, up.curator_key) as curator:
        cid = curator.create_collection(
            name="C", contact_name="Ada", contact_email="ada@example.org"
        )
        dataset_id = curator.create_dataset(cid)
        curator.upload(cid, dataset_id, h5ad)
        assert curator.wait_until_processed(cid, dataset_id, poll=0.2)["status"] == "ready"
        curator.publish(cid)
        yield up, curator, dataset_id


def post_json(up: Up, body: Any, **headers: str) -> httpx.Response:
    return httpx.post(f"{up.base_url}/_cellucid/events", json=body, headers=headers)


def test_events_flow_to_a_notebook_in_order(stack: tuple[Up, CurationClient, str]) -> None:
    up, curator, dataset_id = stack
    registration = curator.register_viewer(dataset_id)
    assert registration["viewer_url"].startswith(f"{up.base_url}/e/{dataset_id}/?viewerId=")
    creds = {"viewerId": registration["viewerId"], "viewerToken": registration["viewerToken"]}
    selections: list[dict[str, Any]] = []
    with Viewer.from_registration(up.base_url, registration) as viewer:
        viewer.on_selection(selections.append)
        viewer.start(wait=5)
        assert post_json(
            up, {"type": "ready", "n_cells": N_CELLS, "dimensions": 2, **creds}
        ).json()["delivered"]
        assert viewer.wait_for_ready(timeout=20) == {
            "type": "ready",
            "n_cells": N_CELLS,
            "dimensions": 2,
        }
        cells = np.array([1, 5, 59], "<u4").tobytes()
        reply = httpx.post(
            f"{up.base_url}/_cellucid/selection",
            params={**creds, "source": "lasso"},
            content=cells,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert reply.status_code == 200, reply.text
        event = viewer.wait_for_event("selection", timeout=20)
        assert event == {"type": "selection", "cells": [1, 5, 59], "source": "lasso"}
        deadline = time.monotonic() + 10
        while not selections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert selections == [{"cells": [1, 5, 59], "source": "lasso"}]

    # Read back from the start: arrival order, a cursor that moves on.
    first = httpx.get(f"{up.base_url}/_cellucid/events", params={**creds, "after": "0"}).json()
    assert [e["type"] for e in first["events"]] == ["ready", "selection"]
    after = httpx.get(
        f"{up.base_url}/_cellucid/events", params={**creds, "after": first["cursor"]}
    ).json()
    assert after == {"events": [], "cursor": first["cursor"]}


def test_a_long_poll_returns_when_an_event_arrives(stack: tuple[Up, CurationClient, str]) -> None:
    up, curator, dataset_id = stack
    reg = curator.register_viewer(dataset_id)
    creds = {"viewerId": reg["viewerId"], "viewerToken": reg["viewerToken"]}
    result: dict[str, Any] = {}

    def wait() -> None:
        result["reply"] = httpx.get(
            f"{up.base_url}/_cellucid/events", params={**creds, "wait": 20}, timeout=30
        ).json()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    click = {"type": "click", "cell": 7, "button": 0, "shift": False, "ctrl": False}
    assert post_json(up, {**click, **creds}).status_code == 200
    waiter.join(30)
    assert result["reply"]["events"] == [click]


def test_refusals_store_nothing(stack: tuple[Up, CurationClient, str]) -> None:
    up, curator, dataset_id = stack
    reg = curator.register_viewer(dataset_id)
    creds = {"viewerId": reg["viewerId"], "viewerToken": reg["viewerToken"]}
    ready = {"type": "ready", "n_cells": 1, "dimensions": 2}
    assert post_json(up, {**ready, **creds, "viewerToken": "forged"}).status_code == 403
    assert post_json(up, {**ready, **creds, "viewerId": "no-such-viewer"}).status_code == 404
    assert post_json(up, {**ready, **creds, "extra": 1}).status_code == 400
    assert post_json(up, {"type": "selection", **creds}).status_code == 400
    big = httpx.post(
        f"{up.base_url}/_cellucid/events",
        content=b"{" + b" " * (1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert big.status_code == 413
    text = httpx.post(
        f"{up.base_url}/_cellucid/events", content=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert text.status_code == 415

    def selection(body: bytes, **params: str) -> int:
        return httpx.post(
            f"{up.base_url}/_cellucid/selection",
            params={**creds, "source": "lasso", **params},
            content=body,
            headers={"Content-Type": "application/octet-stream"},
        ).status_code

    assert selection(np.array([3, 2], "<u4").tobytes()) == 400
    assert selection(np.array([N_CELLS], "<u4").tobytes()) == 400
    assert selection(np.arange(N_CELLS + 1, dtype="<u4").tobytes()) == 413
    assert selection(b"") == 422
    assert selection(np.array([1], "<u4").tobytes(), viewerToken="forged") == 403
    bad_bundle = httpx.post(
        f"{up.base_url}/_cellucid/session_bundle",
        params={**creds, "requestId": "r1"},
        content=make_bundle()[:-3],
        headers={"Content-Type": "application/octet-stream"},
    )
    assert bad_bundle.status_code == 400 and "chunk" in bad_bundle.json()["detail"]
    too_big = httpx.post(
        f"{up.base_url}/_cellucid/session_bundle",
        params={**creds, "requestId": "r2"},
        content=b"\x00" * (MAX_DIRECT_BUNDLE_BYTES + 1),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert too_big.status_code == 413
    everything = httpx.get(f"{up.base_url}/_cellucid/events", params=creds).json()
    assert everything["events"] == []
    listed = httpx.get(f"{up.base_url}/_cellucid/session_bundles", params=creds).json()
    assert listed == {"bundles": []}


def test_session_bundles_are_stored_listed_and_read(
    stack: tuple[Up, CurationClient, str], tmp_path: Path
) -> None:
    up, curator, dataset_id = stack
    reg = curator.register_viewer(dataset_id)
    creds = {"viewerId": reg["viewerId"], "viewerToken": reg["viewerToken"]}
    for version, request_id in ((1, "req-1"), (2, "req-2")):
        reply = httpx.post(
            f"{up.base_url}/_cellucid/session_bundle",
            params={**creds, "requestId": request_id},
            content=make_bundle(version),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert reply.status_code == 200, reply.text
    with Viewer.from_registration(up.base_url, reg) as viewer:
        listed = viewer.session_bundles()
        assert [(b["requestId"], b["version"]) for b in listed] == [("req-1", 1), ("req-2", 2)]
        bundle = viewer.get_session_bundle("req-2")
        assert bundle.decode_chunk("core/state") == {"colorBy": "cell_type"}
        event = viewer.wait_for_event("session_bundle", timeout=10)
        assert event["requestId"] == "req-1" and event["status"] == "ok"
    other = curator.register_viewer(dataset_id)
    stranger = {"viewerId": other["viewerId"], "viewerToken": other["viewerToken"]}
    assert (
        httpx.get(f"{up.base_url}/_cellucid/session_bundles/req-2", params=stranger).status_code
        == 404
    )


def test_large_bundles_go_through_an_upload_url(stack: tuple[Up, CurationClient, str]) -> None:
    up, curator, dataset_id = stack
    reg = curator.register_viewer(dataset_id)
    creds = {"viewerId": reg["viewerId"], "viewerToken": reg["viewerToken"]}
    big = make_bundle(
        2, chunks=[("highlights/cells/1", np.arange(2_000_000, dtype="<u4").tobytes(), "none")]
    )
    assert len(big) > MAX_DIRECT_BUNDLE_BYTES
    with Viewer.from_registration(up.base_url, reg) as viewer:
        for request_id, body in (("big", big), ("broken", big[:-1])):
            grant = httpx.post(
                f"{up.base_url}/_cellucid/session_bundle/upload-url",
                params={**creds, "requestId": request_id, "size": len(body)},
            )
            assert grant.status_code == 200, grant.text
            put = httpx.put(grant.json()["url"], content=body, headers=grant.json()["headers"])
            assert put.status_code == 200
        accepted = viewer.wait_for_event("session_bundle", timeout=20)
        rejected = viewer.wait_for_event("session_bundle", timeout=20)
        assert accepted["requestId"] == "big" and accepted["status"] == "ok"
        assert rejected["requestId"] == "broken" and rejected["status"] == "rejected"
        assert "chunk" in rejected["reason"] or "file ends" in rejected["reason"]
        assert [b["requestId"] for b in viewer.session_bundles()] == ["big"]
        assert (
            viewer.get_session_bundle("big").chunk_bytes("highlights/cells/1") == big[-8_000_000:]
        )
    leftovers = list((up.data_dir / "uploads").rglob("*.cellucid-session"))
    assert leftovers == []
