"""The upload model on ``up`` (issue 12, item 4), over real HTTP with the real client: the
revision workflow of docs/client.md, verbatim, many times in a row; and restarts (SIGKILL,
SIGTERM) after two uploads to one dataset, in a draft and in a revision."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cellucid_cloud.client import ApiError, CurationClient
from tests.export_data import make_adata
from tests.local_up import Up, running_up

CONTACT = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.org"}


def write_h5ad(folder: Path, n_cells: int) -> Path:
    path = folder / f"cells-{n_cells}.h5ad"
    make_adata(n_cells=n_cells, n_genes=20, seed=n_cells).write_h5ad(path)
    return path


def public_cells(up: Up, dataset_id: str) -> int:
    """What the dataset's public URL shows: the number of cells of its export."""
    with up.client() as public:
        answer = public.get("/dp/v1/datasets/meta", params={"url": f"/e/{dataset_id}/"})
        assert answer.status_code == 200, answer.text
        identity = httpx.get(answer.json()["export_url"] + "dataset_identity.json", timeout=30)
    assert identity.status_code == 200
    return int(identity.json()["stats"]["n_cells"])


def test_the_documented_revision_workflow_keeps_every_replacement(tmp_path: Path) -> None:
    files = [write_h5ad(tmp_path, 40 + 10 * i) for i in range(7)]
    with (
        running_up(tmp_path / "data", "--meta-ttl", "0") as up,
        CurationClient(up.base_url, up.curator_key) as curator,
    ):
        cid = curator.create_collection("Lung", "Adult lung atlas", **CONTACT)
        did = curator.create_dataset(cid, "Lung, all cells")
        curator.upload(cid, did, files[0])
        dataset = curator.wait_until_processed(cid, did, timeout=1800)
        if dataset["status"] == "failed":
            raise SystemExit(dataset["reason"])
        curator.publish(cid)
        assert public_cells(up, did) == 40

        for i, file in enumerate(files[1:], start=1):
            # docs/client.md, "Later: a revision ...", line for line.
            rid = curator.start_revision(cid)
            curator.upload(rid, did, file)
            curator.wait_until_processed(rid, did)
            curator.publish(rid)
            assert public_cells(up, did) == 40 + 10 * i, f"revision {i}"


def _log_path(up: Up) -> Path:
    port = up.base_url.rsplit(":", 1)[1]
    return up.data_dir.parent / f"up-{port}.log"


def _wait_for_scan(up: Up, n_files: int) -> None:
    """Until the worker has handled every file in the uploads folder since this start."""
    deadline = time.monotonic() + 120
    while True:
        handled = re.findall(r"upload \S+: (\w+)", _log_path(up).read_text())
        if len(handled) >= n_files:
            return
        assert time.monotonic() < deadline, _log_path(up).read_text()
        time.sleep(0.2)


def _kill(up: Up, how: signal.Signals) -> None:
    up.process.send_signal(how)
    up.process.wait(30)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_restart_keeps_the_newer_of_two_uploads(tmp_path: Path, how: signal.Signals) -> None:
    one, two, three, four = (write_h5ad(tmp_path, n) for n in (31, 32, 33, 34))
    data = tmp_path / "data"
    with (
        running_up(data, "--meta-ttl", "0") as up,
        CurationClient(up.base_url, up.curator_key) as curator,
    ):
        cid = curator.create_collection("Lung", **CONTACT)
        did = curator.create_dataset(cid, "Lung")
        curator.upload(cid, did, one)
        curator.upload(cid, did, two)
        draft = curator.wait_until_processed(cid, did)
        assert (draft["status"], draft["n_cells"]) == ("ready", 32)
        _kill(up, how)

    with (
        running_up(data, "--meta-ttl", "0") as up,
        CurationClient(up.base_url, up.curator_key) as curator,
    ):
        _wait_for_scan(up, 2)
        again = curator.get_dataset(cid, did)
        assert again["dataset_version_id"] == draft["dataset_version_id"]
        assert (again["status"], again["n_cells"]) == ("ready", 32)
        curator.publish(cid)
        rid = curator.start_revision(cid)
        curator.upload(rid, did, three)
        curator.upload(rid, did, four)
        revised = curator.wait_until_processed(rid, did)
        assert (revised["status"], revised["n_cells"]) == ("ready", 34)
        _kill(up, how)

    for _ in range(2):  # every restart: the same version, no new one
        with (
            running_up(data, "--meta-ttl", "0") as up,
            CurationClient(up.base_url, up.curator_key) as curator,
        ):
            _wait_for_scan(up, 4)
            now = curator.get_dataset(rid, did)
            assert now["dataset_version_id"] == revised["dataset_version_id"]
            assert (now["status"], now["n_cells"]) == ("ready", 34)
            assert public_cells(up, did) == 32
            _kill(up, how)

    with (
        running_up(data, "--meta-ttl", "0") as up,
        CurationClient(up.base_url, up.curator_key) as curator,
    ):
        curator.publish(rid)
        assert public_cells(up, did) == 34


def identity(export_url: str) -> dict[str, Any]:
    reply = httpx.get(export_url + "dataset_identity.json", timeout=30)
    assert reply.status_code == 200
    document: dict[str, Any] = reply.json()
    return document


def test_export_options_before_and_after_an_upload(tmp_path: Path) -> None:
    file = write_h5ad(tmp_path, 60)
    with (
        running_up(tmp_path / "data", "--meta-ttl", "0") as up,
        CurationClient(up.base_url, up.curator_key) as curator,
    ):
        cid = curator.create_collection("Lung", **CONTACT)
        did = curator.create_dataset(cid, "Lung")
        before = curator.get_dataset(cid, did)
        waiting = curator.set_export_options(cid, did, {"obs_keys": ["cell_type"]})
        assert waiting["dataset_version_id"] == before["dataset_version_id"]
        curator.upload(cid, did, file)
        ready = curator.wait_until_processed(cid, did)
        assert ready["status"] == "ready", ready
        assert identity(ready["export_url"])["stats"]["n_obs_fields"] == 1
        assert curator.get_export_options(cid, did) == {"obs_keys": ["cell_type"]}
        curator.publish(cid)

        rid = curator.start_revision(cid)
        changed = curator.set_export_options(rid, did, {"obs_keys": ["cell_type", "n_genes"]})
        assert changed["dataset_version_id"] != ready["dataset_version_id"]
        assert changed["status"] in ("waiting", "processing")
        redone = curator.wait_until_processed(rid, did)
        assert redone["dataset_version_id"] == changed["dataset_version_id"]
        assert redone["status"] == "ready", redone
        assert identity(redone["export_url"])["stats"]["n_obs_fields"] == 2
        with pytest.raises(ApiError) as refused:
            curator.set_export_options(rid, did, {"embeddings": [{"key": "X_umap", "columns": []}]})
        assert refused.value.status == 422
        curator.publish(rid)
        with up.client() as public:
            answer = public.get("/dp/v1/datasets/meta", params={"url": f"/e/{did}/"}).json()
        assert answer["dataset_version_id"] == redone["dataset_version_id"]
