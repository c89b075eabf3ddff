"""``up`` processes each upload in a child process with a memory and a time limit (issue 15,
finding 3), shown on a bomb the upload checks let through: a 2.1 MB .zarr.zip whose extra
embedding is 1 GiB of bz2-compressed zeros, honestly declared (under the checks' 1,000-fold
bound), which the exporter reads whole.

Real ``up`` processes (tests/local_up.py), real uploads, real kills: the child over its
memory limit, over its time limit, killed by a signal (as the kernel's OOM killer would), and
``up`` itself killed mid-processing; each time the version ends with a reason (or, for the
killed server, is processed again at the next start), the server keeps serving, and no child
outlives it.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from cellucid_cloud.catalog.models import DatasetStatus, DatasetVersion
from cellucid_cloud.catalog.sqlite_repository import SqliteCatalogRepository
from cellucid_cloud.client import CurationClient
from cellucid_cloud.ingest.upload_checks import check_upload
from tests.hostile_uploads import bz2_bomb, good_adata
from tests.local_up import Up, running_up

PADDING = 2 << 20
CONTACT = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.org"}


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus's bz2 bomb padded with 2 MB of noise: 1 GiB declared by a 2.1 MB file,
    under the checks' 1,000-fold bound, so they let it through and only the limits stop it
    (bz2 also inflates slowly: several seconds, whatever the machine)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zarr.zip"
    bz2_bomb(PADDING)(path)
    check_upload(path, ".zarr.zip")
    return path


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("good") / "good.h5ad"
    good_adata().write_h5ad(path)
    return path


def new_dataset(curator: CurationClient) -> tuple[str, str]:
    collection = curator.create_collection(name="Limits", **CONTACT)
    return collection, curator.create_dataset(collection)


def wait_for(
    curator: CurationClient, collection: str, dataset: str, replacing: str | None = None
) -> dict[str, Any]:
    """The dataset once ready or failed (with ``replacing``, in a version other than that)."""
    deadline = time.monotonic() + 180
    while True:
        document = curator.get_dataset(collection, dataset)
        fresh = document["dataset_version_id"] != replacing
        if fresh and document["status"] in ("ready", "failed"):
            return document
        assert time.monotonic() < deadline, document
        time.sleep(0.2)


def prepare_children(up: Up) -> list[psutil.Process]:
    """``up``'s processing children (the fork server's children)."""
    found = []
    for process in psutil.Process(up.process.pid).children(recursive=True):
        try:
            if process.ppid() != up.process.pid:
                found.append(process)
        except psutil.NoSuchProcess:
            continue
    return found


def still_serving(up: Up) -> None:
    assert httpx.get(f"{up.base_url}/_cellucid/health", timeout=5).status_code == 200
    assert httpx.get(f"{up.base_url}/", timeout=5).status_code == 200


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[Up, CurationClient]]:
    with (
        running_up(tmp_path / "data", "--processing-memory", "1") as up,
        CurationClient(up.base_url, up.curator_key) as curator,
    ):
        yield up, curator


def test_over_the_memory_limit_the_version_fails_and_up_serves_on(
    limited: tuple[Up, CurationClient], bomb: Path, good: Path
) -> None:
    up, curator = limited
    rss_before = psutil.Process(up.process.pid).memory_info().rss
    collection, dataset = new_dataset(curator)
    curator.upload(collection, dataset, bomb)
    failed = wait_for(curator, collection, dataset)
    assert failed["status"] == "failed", failed
    assert "processing exceeded the memory limit of 1 GiB" in str(failed["reason"])
    still_serving(up)
    assert psutil.Process(up.process.pid).memory_info().rss - rss_before < 200 << 20
    curator.upload(collection, dataset, good)  # the worker goes on with the next upload
    ready = wait_for(curator, collection, dataset, replacing=failed["dataset_version_id"])
    assert ready["status"] == "ready", ready


def test_over_the_time_limit_the_child_is_killed(tmp_path: Path, bomb: Path) -> None:
    with (
        running_up(tmp_path / "data", "--processing-time", "1") as up,
        CurationClient(up.base_url, up.curator_key) as curator,
    ):
        collection, dataset = new_dataset(curator)
        curator.upload(collection, dataset, bomb)
        failed = wait_for(curator, collection, dataset)
        assert failed["status"] == "failed", failed
        assert "processing exceeded the time limit of 1 s" in str(failed["reason"])
        assert prepare_children(up) == []
        still_serving(up)


def busy_child(up: Up) -> psutil.Process:
    """The processing child once it is reading the bomb (over 256 MiB resident): killed
    then, it cannot have written its result yet."""
    deadline = time.monotonic() + 120
    while True:
        for child in prepare_children(up):
            with contextlib.suppress(psutil.NoSuchProcess):
                if child.memory_info().rss > 256 << 20:
                    return child
        assert time.monotonic() < deadline, "no busy processing child"
        time.sleep(0.02)


def test_a_child_killed_by_a_signal_fails_its_version(tmp_path: Path, bomb: Path) -> None:
    """SIGKILL from outside, as the kernel's OOM killer sends it."""
    with (
        running_up(tmp_path / "data") as up,
        CurationClient(up.base_url, up.curator_key) as curator,
    ):
        collection, dataset = new_dataset(curator)
        curator.upload(collection, dataset, bomb)
        busy_child(up).send_signal(signal.SIGKILL)
        failed = wait_for(curator, collection, dataset)
        assert failed["status"] == "failed", failed
        reason = str(failed["reason"])
        assert "killed (SIGKILL)" in reason and "4 GiB" in reason, reason
        still_serving(up)


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_a_stopped_up_leaves_no_child_and_its_upload_is_processed_at_the_next_start(
    tmp_path: Path, bomb: Path, stop: signal.Signals
) -> None:
    """Killed, the server's child notices and exits; stopped with Ctrl-C, the server cancels
    it without failing the version. Either way the next start processes the upload."""
    data = tmp_path / "data"
    with (
        running_up(data) as up,
        CurationClient(up.base_url, up.curator_key) as curator,
    ):
        collection, dataset = new_dataset(curator)
        curator.upload(collection, dataset, bomb)
        child = busy_child(up)
        version_id = curator.get_dataset(collection, dataset)["dataset_version_id"]
        up.process.send_signal(stop)
        assert up.process.wait(60) is not None
        _, alive = psutil.wait_procs([child], timeout=10)
        assert alive == [], f"the child outlived up: {alive}"
    repository = SqliteCatalogRepository(data / "catalog.sqlite3")
    version = repository.get(DatasetVersion, version_id)
    repository.close()
    assert version is not None and version.status is DatasetStatus.PROCESSING, version
    with (
        running_up(data) as up,
        CurationClient(up.base_url, up.curator_key) as curator,
    ):
        ready = wait_for(curator, collection, dataset)
        assert ready["status"] == "ready", ready
        assert ready["dataset_version_id"] == version_id
