"""Every hostile upload (tests/hostile_uploads.py) through the local stack's real path: an
upload URL, the PUT, the background worker, over real HTTP, into the open revision of a
published dataset.

Each case must end as a failed version whose reason meets the bar of
:func:`tests.hostile_uploads.reason_problem` (or ready, for the few accepted on purpose);
nothing new is published, the published version keeps answering meta and serving its files,
and the worker thread lives on and still processes a good file at the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hostile_uploads import CASES, HostileUpload, reason_problem, write
from tests.hostile_uploads import good_adata as make_good
from tests.live_app import Served, serving

CONTACT = {"contact_name": "Ada Lovelace", "contact_email": "ada@example.org"}
MAX_GROWTH_KIB = 96 * 1024
"""Peak memory one case may add to this process, above its resident size when the case
starts: less than the zip bomb's 128 MiB, so a bomb inflated in memory fails the case."""


def _status_kib(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    return int(status.split(f"{field}:", 1)[1].split()[0])


def reset_peak_memory() -> int:
    """Reset the kernel's high-water mark of this process to its current resident size
    (Linux ≥ 4.0); that size, in KiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS")


def peak_memory() -> int:
    """The highest resident size since :func:`reset_peak_memory`, in KiB."""
    return _status_kib("VmHWM")


@dataclass
class Published:
    """A published dataset with an open revision that the hostile uploads go to."""

    served: Served
    curator: httpx.Client
    collection_id: str
    revision_id: str
    dataset_id: str
    good_version: str
    good_export: str
    seen: set[str] = field(default_factory=set)

    def upload(self, path: Path, suffix: str) -> dict[str, Any]:
        """PUT ``path`` through an upload URL; wait for the new version to finish. A file the
        upload route refuses (an empty one) is dropped into the uploads folder instead, the
        other way in, which takes anything."""
        route = f"/curation/v1/collections/{self.revision_id}/datasets/{self.dataset_id}"
        grant = self.curator.post(
            f"{route}/upload-url", json={"format": suffix.removeprefix(".")}
        ).json()
        put = httpx.put(grant["url"], content=path.read_bytes(), headers=grant["headers"])
        if put.status_code == 400:
            assert put.json()["detail"], put.text
            stack = self.served.stack
            stack.uploads.put(grant["key"], path.read_bytes())
            stack.worker.submit(grant["key"])
        else:
            assert put.status_code == 200, put.text
        deadline = time.monotonic() + 60
        while True:
            document: dict[str, Any] = self.curator.get(route).json()
            fresh = document["dataset_version_id"] not in self.seen
            if fresh and document["status"] in ("ready", "failed"):
                self.seen.add(document["dataset_version_id"])
                return document
            assert time.monotonic() < deadline, f"no outcome: {document}"
            time.sleep(0.05)

    def assert_still_published(self) -> None:
        base = self.served.base_url
        meta = httpx.get(f"{base}/dp/v1/datasets/meta", params={"url": f"/e/{self.dataset_id}/"})
        assert meta.status_code == 200, meta.text
        assert meta.json()["dataset_version_id"] == self.good_version
        assert meta.json()["export_url"] == self.good_export
        listed = httpx.get(f"{base}/datasets.json").json()["datasets"]
        assert [d["path"] for d in listed] == [f"exports/{self.good_version}/"]
        identity = httpx.get(self.good_export + "dataset_identity.json")
        assert identity.status_code == 200
        assert identity.json()["stats"]["n_cells"] == make_good().n_obs


def worker_alive() -> bool:
    return any(t.name == "upload-worker" and t.is_alive() for t in threading.enumerate())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("corpus")
    return {case.name: write(case, folder / case.name) for case in CASES}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    data = tmp_path_factory.mktemp("hostile-stack")
    good = data.parent / f"{data.name}-good.h5ad"
    make_good().write_h5ad(good)
    with serving(data, meta_ttl=0) as served:
        served.stack.worker.start()
        token = served.stack.auth.issue_token("local-curator")
        curator = httpx.Client(
            base_url=served.base_url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        )
        collections = "/curation/v1/collections"
        cid = curator.post(collections, json={"name": "Atlas", **CONTACT}).json()["collection_id"]
        did = curator.post(f"{collections}/{cid}/datasets").json()["dataset_id"]
        first = Published(served, curator, cid, cid, did, "", "")
        ready = first.upload(good, ".h5ad")
        assert ready["status"] == "ready", ready
        assert curator.post(f"{collections}/{cid}/publish").status_code == 200
        revision = curator.post(f"{collections}/{cid}/revision").json()["collection_id"]
        yield Published(
            served,
            curator,
            cid,
            revision,
            did,
            ready["dataset_version_id"],
            ready["export_url"],
            first.seen,
        )
        curator.close()
        served.stack.worker.stop()


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_hostile_upload_fails_cleanly_and_the_published_version_serves_on(
    case: HostileUpload, corpus: dict[str, Path], published: Published
) -> None:
    before = reset_peak_memory()
    document = published.upload(corpus[case.name], case.suffix)
    growth = peak_memory() - before

    assert worker_alive()
    assert growth < MAX_GROWTH_KIB, f"{case.name} took {growth // 1024} MiB at its peak"
    published.assert_still_published()
    version = document["dataset_version_id"]
    exports = published.served.stack.data_dir / "exports"
    if case.accepted:
        assert document["status"] == "ready", document
        return
    assert document["status"] == "failed", document
    assert document["export_url"] is None
    assert not list(exports.glob(f"{version}*")), "a failed version left an export"
    problem = reason_problem(case, document["reason"], str(published.served.stack.data_dir))
    assert problem is None, problem


def test_after_the_corpus_the_worker_still_processes_a_good_file(
    published: Published, tmp_path: Path
) -> None:
    good = tmp_path / "good-again.h5ad"
    adata = make_good()
    adata.obs["again"] = 1.0
    adata.write_h5ad(good)
    document = published.upload(good, ".h5ad")
    assert document["status"] == "ready", document
    assert worker_alive()
    published.assert_still_published()  # ready in the revision, not published
