"""Faults on the local stack: ``up`` killed (SIGKILL) while it writes an export, and curators
racing each other's writes over real HTTP."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from cellucid_cloud.catalog.models import DatasetStatus, DatasetVersion
from cellucid_cloud.catalog.sqlite_repository import SqliteCatalogRepository
from tests.export_data import make_adata
from tests.live_app import serving
from tests.local_up import running_up, wait_for_status

CONTACT = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.org"}
COLLECTIONS = "/curation/v1/collections"


def _scratch_files(data: Path) -> list[Path]:
    return [p for p in (data / "work").glob("cellucid-upload-*/**/*") if p.is_file()]


def test_up_killed_mid_export_shows_nothing_partial_and_finishes_after_restart(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    big = tmp_path / "big.h5ad"
    make_adata(n_cells=20_000, n_genes=400).write_h5ad(big)
    with running_up(data) as up, up.curator() as curator:
        cid = curator.post(COLLECTIONS, json={"name": "C", **CONTACT}).json()["collection_id"]
        did = curator.post(f"{COLLECTIONS}/{cid}/datasets").json()["dataset_id"]
        route = f"{COLLECTIONS}/{cid}/datasets/{did}"
        grant = curator.post(f"{route}/upload-url").json()
        assert httpx.put(grant["url"], content=big.read_bytes()).status_code == 200
        deadline = time.monotonic() + 60
        while True:  # the export is being written: var/ files in the scratch staging folder
            status = curator.get(route).json()
            writing = [p for p in _scratch_files(data) if p.parent.name == "var"]
            if status["status"] == "processing" and writing:
                break
            assert status["status"] in ("waiting", "processing"), status
            assert time.monotonic() < deadline, "processing never started"
            time.sleep(0.01)
        up.process.send_signal(signal.SIGKILL)
        up.process.wait()
    version_id = status["dataset_version_id"]

    repository = SqliteCatalogRepository(data / "catalog.sqlite3")
    killed = repository.get(DatasetVersion, version_id)
    repository.close()
    assert killed is not None and killed.status is DatasetStatus.PROCESSING
    assert killed.export_prefix is None
    assert not (data / "exports" / version_id).exists(), "a prefix appeared before it was whole"
    assert _scratch_files(data), "the kill came too late to test anything"

    with running_up(data) as up, up.curator() as curator:  # the start-up scan re-claims it
        done = wait_for_status(curator, route, {"ready", "failed"})
        assert done["status"] == "ready", done
        assert done["dataset_version_id"] == version_id
        assert done["export_url"].endswith(f"/exports/{version_id}-2/")  # the second attempt's
        identity = httpx.get(done["export_url"] + "dataset_identity.json").json()
        assert identity["stats"]["n_cells"] == 20_000
        exported = data / "exports" / f"{version_id}-2"
        var = json.loads((exported / "var_manifest.json").read_text())
        assert len(list((exported / "var").iterdir())) == len(var["fields"]) == 400
        assert not list((data / "exports").glob(".staging-*"))
    assert not list((data / "work").glob("cellucid-upload-*")), "a crash's scratch was kept"


def test_racing_curators_get_409_or_their_change_never_a_lost_update(tmp_path: Path) -> None:
    """8 threads add datasets to one collection and rewrite its description at once: every
    2xx answer's change is in the end state, every other answer is a 409 saying why. Rounds
    repeat until some write lost a race (on a loaded machine one round may run serially)."""
    with serving(tmp_path / "data", meta_ttl=0) as served:
        token = served.stack.auth.issue_token("local-curator")
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=served.base_url, headers=headers, timeout=30) as client:
            cid = client.post(COLLECTIONS, json={"name": "C", **CONTACT}).json()["collection_id"]
        raced = 0
        for round_ in range(20):
            start = threading.Barrier(8)

            def curator(
                n: int, start: threading.Barrier = start, round_: int = round_
            ) -> list[tuple[str, httpx.Response]]:
                """This curator's writes and their answers, checked by the test's own thread."""
                replies = []
                with httpx.Client(base_url=served.base_url, headers=headers, timeout=30) as client:
                    start.wait()
                    for i in range(6):
                        if (n + i) % 2:
                            reply = client.post(
                                f"{COLLECTIONS}/{cid}/datasets", json={"name": f"{n}"}
                            )
                            replies.append(("add", reply))
                        else:
                            text = f"round {round_}, curator {n}, edit {i}"
                            reply = client.patch(f"{COLLECTIONS}/{cid}", json={"description": text})
                            replies.append((text, reply))
                return replies

            with httpx.Client(base_url=served.base_url, headers=headers, timeout=30) as client:
                before = {
                    d["dataset_id"] for d in client.get(f"{COLLECTIONS}/{cid}").json()["datasets"]
                }
            with ThreadPoolExecutor(8) as pool:
                answers = [a for replies in pool.map(curator, range(8)) for a in replies]

            statuses = Counter(reply.status_code for _, reply in answers)
            assert set(statuses) <= {200, 201, 409}, statuses
            added = [
                r.json()["dataset_id"] for w, r in answers if w == "add" and r.status_code == 201
            ]
            described = [w for w, r in answers if w != "add" and r.status_code == 200]
            for wrote, reply in answers:
                if reply.status_code == 409:
                    assert "another request won" in reply.json()["detail"]
                elif wrote != "add":
                    assert reply.json()["description"] == wrote
            with httpx.Client(base_url=served.base_url, headers=headers, timeout=30) as client:
                final = client.get(f"{COLLECTIONS}/{cid}").json()
            assert sorted(d["dataset_id"] for d in final["datasets"]) == sorted([*before, *added])
            assert final["description"] in described
            raced += statuses[409]
            if raced:
                break
        assert raced > 0, "no write raced in 20 rounds: the test proved nothing"


def test_a_put_cut_off_by_a_kill_leaves_nothing_after_the_restart(tmp_path: Path) -> None:
    """Issue 15, finding 8: ``up`` SIGKILLed while a PUT streams its body leaves the hidden
    ``.incoming-*`` file (its cleanup never runs); the next start removes it, and half-written
    session bundles too (13.6 MB had survived three restarts)."""
    data = tmp_path / "data"
    with running_up(data) as up, up.curator() as curator:
        cid = curator.post(COLLECTIONS, json={"name": "C", **CONTACT}).json()["collection_id"]
        did = curator.post(f"{COLLECTIONS}/{cid}/datasets").json()["dataset_id"]
        grant = curator.post(f"{COLLECTIONS}/{cid}/datasets/{did}/upload-url").json()

        def body() -> Iterator[bytes]:
            yield bytes(1 << 20)
            time.sleep(60)  # the server is killed meanwhile
            yield b""

        def send() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server dies under it
                httpx.put(grant["url"], content=body(), timeout=90)

        threading.Thread(target=send, daemon=True).start()
        deadline = time.monotonic() + 30
        while not list((data / "uploads").rglob(".incoming-*")):
            assert time.monotonic() < deadline, "the PUT never started writing"
            time.sleep(0.02)
        up.process.send_signal(signal.SIGKILL)
        up.process.wait()
    half_bundle = data / "sessions" / "some-viewer" / ".incoming-0123"
    half_bundle.parent.mkdir(parents=True)
    half_bundle.write_bytes(b"CELLUCID_SESSION/2\n")
    assert list((data / "uploads").rglob(".incoming-*"))
    with running_up(data):
        left = [*data.rglob(".incoming-*"), *data.rglob(".staging-*")]
        assert left == [], left
